package import CoreMetrics
import Synchronization

/// The built-in keyspace: every key in memory behind one lock, with active expiry.
///
/// Each operation reads the clock, then holds the lock for a few hash-table and index
/// operations; nothing slow and no callback runs under it. Keys leave memory at their deadline
/// through the `Expirer` thread, and reads never see a key past its deadline.
package final class KeyspaceEngine: KeyspaceStore {
    /// The longest a listing may scan past expired keys in one page.
    private static let listingScanBudget = 10_000

    /// The number of events the history keeps when not told otherwise.
    package static let defaultEventHistory = 100_000

    private let state: Mutex<KeyspaceState>
    private let log: EventLog
    private let clock: any KeyspaceClock
    private let expirer = Expirer()
    /// How late keys are removed after their deadline: the product's key figure.
    private let expiryLateness: Timer
    private let expirations: Counter

    /// Creates an empty keyspace keeping the last `eventHistory` events; call `start()` to
    /// remove keys at their deadlines and notify subscribers. Expirations are counted through
    /// `metrics`, as `keygate_keys_expired_total` and `keygate_expiry_lateness_seconds`.
    package init(
        clock: any KeyspaceClock = SystemClock(), eventHistory: Int = defaultEventHistory,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.clock = clock
        log = EventLog(capacity: eventHistory)
        state = Mutex(KeyspaceState(log: log))
        expiryLateness = Timer(label: Self.expiryLatenessLabel, factory: metrics)
        expirations = Counter(label: "keygate_keys_expired_total", factory: metrics)
    }

    /// The label of the expiry lateness timer, for a factory that wants its own buckets.
    package static let expiryLatenessLabel = "keygate_expiry_lateness_seconds"

    /// The number of keys held, including expired ones not yet removed.
    package var count: Int {
        state.withLock { $0.count }
    }

    /// The number of keys holding a queue (the others hold strings), expired ones not yet
    /// removed included.
    package var queueCount: Int {
        state.withLock { $0.queueCount }
    }

    /// Checks that the internal indexes agree; for tests. O(n).
    package var isConsistent: Bool {
        state.withLock { $0.isConsistent }
    }

    /// The number of keys with a deadline.
    package var volatileCount: Int {
        state.withLock { $0.volatileCount }
    }

    package func value(forKey key: Key) throws(KeyspaceError) -> Versioned<Payload>? {
        try withState { state, now throws(KeyspaceError) in
            guard let entry = state.liveEntry(key, now: now) else { return nil }
            switch entry.value {
            case .string(let string): return Versioned(string, version: entry.version)
            case .queue: throw .wrongType(key: key, actual: .queue)
            }
        }
    }

    package func setValue(
        _ value: Payload, forKey key: Key, timeToLive: Duration?, condition: WriteCondition
    ) throws(KeyspaceError) -> WriteOutcome {
        if let timeToLive {
            try TimeToLive.validate(timeToLive)
        }
        return try withState { state, now throws(KeyspaceError) in
            try state.write(
                .string(value), forKey: key, deadline: timeToLive.map { now + $0 },
                condition: condition, now: now)
        }
    }

    package func removeValue(forKey key: Key, condition: WriteCondition) throws(KeyspaceError)
        -> Bool
    {
        try withState { state, now throws(KeyspaceError) in
            try state.delete(key, ofType: .string, condition: condition, now: now)
        }
    }

    package func timeToLive(forKey key: Key) -> TimeToLive? {
        withState { state, now in state.liveEntry(key, now: now)?.timeToLive(at: now) }
    }

    package func setTimeToLive(_ timeToLive: Duration?, forKey key: Key) throws(KeyspaceError)
        -> Bool
    {
        if let timeToLive {
            try TimeToLive.validate(timeToLive)
        }
        return withState { state, now in
            state.setDeadline(timeToLive.map { now + $0 }, forKey: key, now: now)
        }
    }

    package func keys(prefix: [UInt8], after cursor: Key?, limit: Int) -> KeyPage {
        withState { state, now in
            state.page(
                prefix: prefix, after: cursor, limit: limit, scanBudget: Self.listingScanBudget,
                now: now)
        }
    }

    package func push(_ message: Payload, to queue: Key) throws(KeyspaceError) -> PushOutcome {
        try withState { state, now throws(KeyspaceError) in
            try state.push(message, to: queue, now: now)
        }
    }

    package func pop(from queues: [Key]) throws(KeyspaceError) -> PopOutcome {
        try withState { state, now throws(KeyspaceError) in
            try state.pop(from: queues, registering: nil, now: now)
        }
    }

    package func pop(from queues: [Key], orWait receiver: any MessageReceiver)
        throws(KeyspaceError) -> PopOutcome
    {
        try withState { state, now throws(KeyspaceError) in
            try state.pop(from: queues, registering: receiver, now: now)
        }
    }

    package func cancelWait(_ receiver: any MessageReceiver) {
        withState { state, _ in state.cancelWait(receiver) }
    }

    package func giveBack(_ message: Payload, to queue: Key) throws(KeyspaceError) -> PushOutcome {
        try withState { state, now throws(KeyspaceError) in
            try state.giveBack(message, to: queue, now: now)
        }
    }

    package func queueInfo(_ queue: Key) throws(KeyspaceError) -> QueueInfo {
        try withState { state, now throws(KeyspaceError) in try state.queueInfo(queue, now: now) }
    }

    package func peek(_ queue: Key, limit: Int) throws(KeyspaceError) -> [Payload] {
        try withState { state, now throws(KeyspaceError) in
            try state.peek(queue, limit: limit, now: now)
        }
    }

    package func removeQueue(_ queue: Key) throws(KeyspaceError) -> Bool {
        try withState { state, now throws(KeyspaceError) in
            try state.delete(queue, ofType: .queue, condition: .always, now: now)
        }
    }

    /// The number of consumers waiting on at least one queue.
    package var waitingCount: Int {
        state.withLock { $0.waitingCount }
    }

    package var lastEventID: UInt64 {
        log.lastID
    }

    package func events(after cursor: UInt64, matching filter: EventFilter, limit: Int) -> EventBatch {
        log.events(after: cursor, matching: filter, limit: limit)
    }

    package func subscribe(_ subscriber: any EventSubscriber, filter: EventFilter) {
        log.subscribe(subscriber, filter: filter)
    }

    package func unsubscribe(_ subscriber: any EventSubscriber) {
        log.unsubscribe(subscriber)
    }

    /// Removes up to `limit` keys already past their deadline; the expirer's one step.
    ///
    /// Tests on a manual clock call it directly instead of running the expirer.
    package func expireDueKeys(limit: Int = 256) -> ExpiryPass {
        withState { state, now in state.expireDue(now: now, limit: limit) }
    }

    /// Starts the threads: the events' notifier, and with `expiring` the expirer, which
    /// removes keys at their deadlines (tests on a manual clock call `expireDueKeys` instead).
    /// Idempotent; the threads keep the engine alive until `stop()`.
    package func start(expiring: Bool = true) {
        log.start()
        if expiring {
            expirer.start(clock: clock) { [self] in
                expireDueKeys()
            }
        }
    }

    /// Stops the threads and waits for them to end; idempotent.
    package func stop() {
        expirer.stop()
        log.stop()
    }

    /// Runs `body` under the lock with the time read just before it; then wakes the expirer
    /// if it planned to sleep past a deadline that `body` added, and tells subscribers of the
    /// events `body` recorded.
    private func withState<Value: Sendable, Failure: Error>(
        _ body: (inout KeyspaceState, Timestamp) throws(Failure) -> Value
    ) throws(Failure) -> Value {
        let now = clock.now()
        // The signals are taken even when `body` throws: it may have recorded an event (a key
        // found expired) before failing.
        let (value, failure, signals) = state.withLock { state in
            do throws(Failure) {
                let value = try body(&state, now)
                return (Optional(value), Failure?.none, state.takeSignals())
            } catch {
                return (nil, error, state.takeSignals())
            }
        }
        if signals.wakeExpirer {
            expirer.wake()
        }
        if signals.notifySubscribers {
            log.notifySubscribers()
        }
        if !signals.expiryLateness.isEmpty {
            expirations.increment(by: signals.expiryLateness.count)
            for lateness in signals.expiryLateness {
                expiryLateness.recordMilliseconds(lateness)
            }
        }
        if let failure {
            throw failure
        }
        guard let value else { preconditionFailure("an operation returned neither a value nor an error") }
        return value
    }
}
