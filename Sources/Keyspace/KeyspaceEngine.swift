import Synchronization

/// The built-in keyspace: every key in memory behind one lock, with active expiry.
///
/// Each operation reads the clock, then holds the lock for a few hash-table and index
/// operations; nothing slow and no callback runs under it. Keys leave memory at their deadline
/// through the `Expirer` thread, and reads never see a key past its deadline.
package final class KeyspaceEngine: KeyspaceStore {
    /// The longest a listing may scan past expired keys in one page.
    private static let listingScanBudget = 10_000

    private let state = Mutex(KeyspaceState())
    private let clock: any KeyspaceClock
    private let expirer = Expirer()

    /// Creates an empty keyspace; call `startExpiring()` to remove keys at their deadlines.
    package init(clock: any KeyspaceClock = SystemClock()) {
        self.clock = clock
    }

    /// The number of keys held, including expired ones not yet removed.
    package var count: Int {
        state.withLock { $0.count }
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

    /// Removes up to `limit` keys already past their deadline; the expirer's one step.
    ///
    /// Tests on a manual clock call it directly instead of running the expirer.
    package func expireDueKeys(limit: Int = 256) -> ExpiryPass {
        let now = clock.now()
        return state.withLock { $0.expireDue(now: now, limit: limit) }
    }

    /// Starts the expirer thread; idempotent. The thread keeps the engine alive until
    /// `stopExpiring()`.
    package func startExpiring() {
        expirer.start(clock: clock) { [self] in
            expireDueKeys()
        }
    }

    /// Stops the expirer thread and waits for it to end; idempotent.
    package func stopExpiring() {
        expirer.stop()
    }

    /// Runs `body` under the lock with the time read just before it, then wakes the expirer
    /// if it planned to sleep past a deadline that `body` added.
    private func withState<Result: Sendable, Failure: Error>(
        _ body: (inout KeyspaceState, Timestamp) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let now = clock.now()
        let (result, isWakeNeeded) = try state.withLock { state throws(Failure) in
            let result = try body(&state, now)
            return (result, state.takeExpirerWakeRequest())
        }
        if isWakeNeeded {
            expirer.wake()
        }
        return result
    }
}
