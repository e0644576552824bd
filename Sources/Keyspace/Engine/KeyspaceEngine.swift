package import CoreMetrics
import Plumbing

/// The built-in keyspace: every key in memory behind one lock, with active expiry.
///
/// Each operation reads the clock, then holds the lock for a few hash-table and index
/// operations; nothing slow and no callback runs under it. Keys leave memory at their deadline
/// through the `Expirer` thread, and reads never see a key past its deadline.
///
/// Opened on a data directory (`open(persistence:…)`), every change is also appended to a log
/// under the lock: copied into the mapped log file, so it is in the system's page cache
/// before the operation returns. A snapshot replaces the log as it grows. Start-up redoes both.
package final class KeyspaceEngine: KeyspaceStore {
    /// The longest a listing may scan past expired keys in one page.
    private static let listingScanBudget = 10_000

    /// The number of events the history keeps when not told otherwise.
    package static let defaultEventHistory = 100_000

    private let state: Mutex<KeyspaceState>
    private let log: EventLog
    /// Turns the changes of each operation into events and log records, under the lock.
    private let publisher: ChangePublisher
    private let clock: any KeyspaceClock
    private let expirer = Expirer()
    /// How late keys are removed after their deadline: the product's key figure.
    private let expiryLateness: Timer
    private let expirations: Counter
    /// How late leases and delays end after their moment: the promise of on-time redelivery.
    private let visibilityLateness: Timer
    private let redeliveries: Counter
    private let deadLettered: Counter
    /// Makes and reads the receipts of leases.
    private let signer: ReceiptSigner
    /// The log of changes; `nil` in memory only.
    private let journal: Journal?
    /// What start-up read from the data directory; `nil` in memory only.
    package let recovery: RecoveryReport?

    /// Creates an empty keyspace in memory only, keeping the last `eventHistory` events; call
    /// `start()` to remove keys at their deadlines and notify subscribers. Expirations are
    /// counted through `metrics`, as `keygate_keys_expired_total` and
    /// `keygate_expiry_lateness_seconds`.
    ///
    /// With `memoryLimit`, the keys' bytes (as `MemoryCost` counts them) stay within it: a write
    /// that needs room evicts keys by `evictionPolicy`, or is refused with `.memoryFull`.
    package convenience init(
        clock: any KeyspaceClock = SystemClock(), eventHistory: Int = defaultEventHistory,
        memoryLimit: Int? = nil, evictionPolicy: EvictionPolicy = .default,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.init(
            state: KeyspaceState(memory: MemoryBudget(limit: memoryLimit, policy: evictionPolicy)),
            log: EventLog(capacity: eventHistory), journal: nil, recovery: nil,
            receiptKey: ReceiptSigner.makeKey(), clock: clock, metrics: metrics)
    }

    /// Opens the keyspace kept in `persistence.directory`, locking the directory: loads the
    /// snapshot, redoes the log, and removes (with an `expired` event each) the keys whose
    /// deadline passed while no server ran; then, when the data is over `memoryLimit`, evicts
    /// down to it (with an `evicted` event each, logged). Then as
    /// `init(clock:eventHistory:memoryLimit:evictionPolicy:metrics:)`.
    ///
    /// Throws when the directory is locked by another server, or damaged before the end of its
    /// last log (unless `persistence.repair`); a torn last record is cut off, with a warning
    /// in `recovery`. O(size of the files).
    package static func open(
        persistence: PersistenceConfiguration, clock: any KeyspaceClock = SystemClock(),
        eventHistory: Int = defaultEventHistory, memoryLimit: Int? = nil,
        evictionPolicy: EvictionPolicy = .default, metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws(PersistenceError) -> KeyspaceEngine {
        let started = ContinuousClock.now
        let directory = try DataDirectory(path: persistence.directory)
        let receiptKey = try directory.receiptKey()
        let log = EventLog(capacity: eventHistory)
        var state = KeyspaceState(memory: MemoryBudget(limit: memoryLimit, policy: evictionPolicy))
        var recovery = Recovery(directory: directory, repair: persistence.repair, now: clock.now())
        let outcome = try recovery.run(into: &state)
        log.resume(after: state.lastEventID)
        let file: SystemFile
        var size = outcome.size
        if size > 0 {
            file = try SystemFile.openForUpdate(directory.logPath(outcome.generation), creating: false)
        } else {
            (file, size) = try directory.createLog(outcome.generation, at: clock.now())
        }
        let journal = try Journal(
            configuration: persistence, directory: directory, file: file, generation: outcome.generation,
            size: size, earlierBytes: outcome.earlierBytes, snapshotBytes: outcome.snapshotBytes, clock: clock
        )
        var report = recovery.report
        let now = clock.now()
        report.expiredKeys = state.expireDue(now: now, limit: .max).expired.count
        let evictedBefore = state.memory.evicted
        state.evictToLimit(now: now)
        report.evictedKeys = Int(state.memory.evicted - evictedBefore)
        // Published like any change, but not counted as expirations: the expirer did not run.
        _ = ChangePublisher(events: log, journal: journal).publish(changesOf: &state, at: now)
        try journal.checkAppended()
        report.duration = ContinuousClock.now - started
        return KeyspaceEngine(
            state: state, log: log, journal: journal, recovery: report, receiptKey: receiptKey, clock: clock,
            metrics: metrics)
    }

    private init(
        state: sending KeyspaceState, log: EventLog, journal: Journal?, recovery: RecoveryReport?,
        receiptKey: [UInt8], clock: any KeyspaceClock, metrics: any MetricsFactory
    ) {
        self.clock = clock
        self.log = log
        publisher = ChangePublisher(events: log, journal: journal)
        self.state = Mutex(state)
        self.journal = journal
        self.recovery = recovery
        expiryLateness = Timer(label: Self.expiryLatenessLabel, factory: metrics)
        expirations = Counter(label: "keygate_keys_expired_total", factory: metrics)
        visibilityLateness = Timer(label: Self.visibilityLatenessLabel, factory: metrics)
        redeliveries = Counter(label: "keygate_redeliveries_total", factory: metrics)
        deadLettered = Counter(label: "keygate_dead_lettered_total", factory: metrics)
        signer = ReceiptSigner(key: receiptKey)
    }

    /// The label of the expiry lateness timer, for a factory that wants its own buckets.
    package static let expiryLatenessLabel = "keygate_expiry_lateness_seconds"

    /// The label of the timer of leases and delays that end, for a factory that wants its own
    /// buckets.
    package static let visibilityLatenessLabel = "keygate_visibility_lateness_seconds"

    /// The number of keys held, including expired ones not yet removed.
    package var count: Int {
        state.withLock { $0.count }
    }

    /// The number of keys holding a queue (the others hold strings), expired ones not yet
    /// removed included.
    package var queueCount: Int {
        state.withLock { $0.queueCount }
    }

    /// The messages of every queue, by state.
    package var messageCounts: MessageCounts {
        state.withLock { $0.messageCounts }
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
        // The bytes are copied out once the lock is released.
        let record = try withState { state, now throws(KeyspaceError) in
            try state.read(key, now: now).map(StringRecord.Handle.init)
        }
        guard let record = record?.record else { return nil }
        return Versioned(record.payload, version: Version(record.header.version))
    }

    package func setValue(
        _ value: Payload, forKey key: Key, timeToLive: Duration?, condition: WriteCondition
    ) throws(KeyspaceError) -> WriteOutcome {
        if let timeToLive {
            try TimeToLive.validate(timeToLive)
        }
        // Made before the lock is taken, so that no writer waits for the copy of a large value.
        let record = StringRecord.Handle(record: StringRecord.make(key: key, value: value))
        return try change { state, now throws(KeyspaceError) in
            try state.write(
                value, record: record.record, forKey: key, deadline: timeToLive.map { now + $0 },
                condition: condition, now: now)
        }
    }

    package func removeValue(forKey key: Key, condition: WriteCondition) throws(KeyspaceError)
        -> Bool
    {
        try change { state, now throws(KeyspaceError) in
            try state.delete(key, ofType: .string, condition: condition, now: now)
        }
    }

    package func timeToLive(forKey key: Key) -> TimeToLive? {
        withState { state, now in
            state.liveEntry(key, now: now).map { $0.deadline.map { .remaining($0 - now) } ?? .persistent }
        }
    }

    package func setTimeToLive(_ timeToLive: Duration?, forKey key: Key) throws(KeyspaceError)
        -> Bool
    {
        if let timeToLive {
            try TimeToLive.validate(timeToLive)
        }
        return try change { state, now in
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

    package func push(_ message: Payload, to queue: Key, delay: Duration?) throws(KeyspaceError)
        -> PushOutcome
    {
        if let delay {
            try QueueLimits.validateDelay(delay)
        }
        return try change { state, now throws(KeyspaceError) in
            try state.push(message, to: queue, delay: delay, now: now)
        }
    }

    package func consume(
        _ consumption: Consumption, from queues: [Key], orWait receiver: (any MessageReceiver)?,
        waitingAtMost limit: Int
    ) throws(KeyspaceError) -> ConsumeOutcome {
        let consumed = try change { state, now throws(KeyspaceError) in
            try state.consume(
                consumption, from: queues, registering: receiver, waitingAtMost: limit, now: now)
        }
        switch consumed {
        case .handed(let handed): return .delivered(handover(of: handed))
        case .empty: return .empty
        case .waiting: return .waiting
        case .gone: return .gone
        }
    }

    package func cancelWait(_ receiver: any MessageReceiver) {
        withState { state, _ in state.cancelWait(receiver) }
    }

    package func giveBack(_ handover: Handover) throws(KeyspaceError) {
        switch handover {
        case .popped(let popped):
            try withState { state, now throws(KeyspaceError) in try state.giveBack(popped, now: now) }
        case .received(let queue, let messages):
            withState { state, now in state.giveBack(messages.compactMap(\.lease), in: queue, now: now) }
        case .moved, .failed:
            break
        }
    }

    package func acknowledge(_ receipts: [String], in queue: Key) throws(KeyspaceError) -> [LeaseStatus] {
        // A loop rather than map: map with a typed throw grows the array one element at a time.
        var references: [LeaseReference?] = []
        references.reserveCapacity(receipts.count)
        for receipt in receipts {
            references.append(try signer.lease(of: receipt, in: queue))
        }
        return try change { state, now throws(KeyspaceError) in
            try state.acknowledge(references, in: queue, now: now)
        }
    }

    package func changeVisibility(of receipt: String, in queue: Key, to visibility: Duration)
        throws(KeyspaceError) -> Timestamp
    {
        guard let reference = try signer.lease(of: receipt, in: queue) else {
            throw .unknownReceipt(queue: queue)
        }
        return try change { state, now throws(KeyspaceError) in
            try state.changeVisibility(of: reference, in: queue, to: visibility, now: now)
        }
    }

    package func policy(of queue: Key) throws(KeyspaceError) -> QueuePolicy {
        try withState { state, now throws(KeyspaceError) in try state.readPolicy(of: queue, now: now) }
    }

    package func setPolicy(_ policy: QueuePolicy?, of queue: Key) throws(KeyspaceError) -> QueuePolicy {
        try change { state, now throws(KeyspaceError) in try state.setPolicy(policy, of: queue, now: now) }
    }

    package func queueInfo(_ queue: Key) throws(KeyspaceError) -> QueueInfo {
        try withState { state, now throws(KeyspaceError) in try state.queueInfo(queue, now: now) }
    }

    package func peek(_ queue: Key, limit: Int) throws(KeyspaceError) -> [QueuedMessage] {
        try withState { state, now throws(KeyspaceError) in
            try state.peek(queue, limit: limit, now: now)
        }
    }

    package func removeQueue(_ queue: Key) throws(KeyspaceError) -> Bool {
        try change { state, now throws(KeyspaceError) in
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

    /// Tells no expiration ahead of its history: `position`'s id alone counts.
    package func events(after position: EventPosition, matching filter: EventFilter, limit: Int) -> EventBatch
    {
        log.events(after: position.id, matching: filter, limit: limit)
    }

    package func subscribe(_ subscriber: any EventSubscriber, filter: EventFilter) {
        log.subscribe(subscriber, filter: filter)
    }

    package func unsubscribe(_ subscriber: any EventSubscriber) {
        log.unsubscribe(subscriber)
    }

    package func pendingDurability() -> DurabilityTicket? {
        journal?.pendingDurability()
    }

    package func whenDurable(
        _ ticket: DurabilityTicket, _ completion: @escaping @Sendable (KeyspaceError?) -> Void
    ) {
        guard let journal else { return completion(nil) }
        journal.whenDurable(ticket) { failure in
            completion(failure.map { .unavailable($0) })
        }
    }

    package var memoryStatus: MemoryStatus? {
        state.withLock { state in
            MemoryStatus(
                used: state.memory.used, limit: state.memory.limit, policy: state.memory.policy.rawValue,
                evicted: state.memory.evicted)
        }
    }

    package var persistenceStatus: PersistenceStatus? {
        guard let journal else { return nil }
        var status = journal.status
        status.liveBytes = state.withLock { $0.liveBytes }
        return status
    }

    /// Writes the keyspace as a new snapshot and removes the logs it replaces, unless a
    /// compaction is already running. The compactor calls it when the log has outgrown the
    /// live data; tests call it directly. Writers wait only while the keyspace is captured
    /// and, the first time each touches one of the keyspace's 64 tables after that, while that
    /// table is copied.
    package func compact() {
        guard let journal, journal.beginCompaction() else { return }
        do throws(PersistenceError) {
            let next = try journal.makeNextLog()
            let capture = try state.withLock { state throws(PersistenceError) in
                try journal.rotate(to: next)
                return state.capture()
            }
            let bytes = try journal.directory.writeSnapshot(
                capture, generation: next.generation, at: clock.now())
            try journal.directory.removeLogs(before: next.generation)
            journal.finishCompaction(snapshotBytes: bytes, generation: next.generation)
        } catch {
            journal.failCompaction(error)
        }
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
        journal?.start { [self] in
            compact()
        }
    }

    /// Stops the threads and waits for them to end; then writes and syncs the rest of the log
    /// and unlocks the data directory. Idempotent.
    package func stop() {
        expirer.stop()
        log.stop()
        if let journal {
            journal.stop()
            journal.directory.unlock()
        }
    }

    /// Runs a client's change like `withState`, but refuses it while the log cannot grow, and
    /// fails it when its records found no room (it is then in memory, and logged once the log
    /// can grow).
    private func change<Value: Sendable>(
        _ body: (inout KeyspaceState, Timestamp) throws(KeyspaceError) -> Value
    ) throws(KeyspaceError) -> Value {
        // A journal that takes no changes names its failure; between the flag and the failure
        // (just set, or just cleared) the change goes on, as it would have a moment earlier.
        if let journal, !journal.isAcceptingChanges, let failure = journal.failure {
            throw .unavailable(failure)
        }
        var (value, failure, signals) = locked(body)
        var writeFailure = finish(signals)
        // A write that evicted its share under one hold of the lock goes on under the next.
        while signals.isEvictionInterrupted, writeFailure == nil {
            (value, failure, signals) = locked(body)
            writeFailure = finish(signals)
        }
        if let failure {
            throw failure
        }
        if let writeFailure {
            throw .unavailable(writeFailure)
        }
        guard let value else { preconditionFailure("an operation returned neither a value nor an error") }
        return value
    }

    /// Runs `body` under the lock with the time read just before it; then wakes the expirer
    /// if it planned to sleep past a deadline that `body` added, tells subscribers of the
    /// events `body` recorded, and checks that the changes it journaled are in the log (a
    /// failure is the journal's to report and retry).
    private func withState<Value: Sendable, Failure: Error>(
        _ body: (inout KeyspaceState, Timestamp) throws(Failure) -> Value
    ) throws(Failure) -> Value {
        let (value, failure, signals) = locked(body)
        _ = finish(signals)
        if let failure {
            throw failure
        }
        guard let value else { preconditionFailure("an operation returned neither a value nor an error") }
        return value
    }

    /// Runs `body` under the lock with the time read just before it, then publishes the
    /// changes it made.
    private func locked<Value: Sendable, Failure: Error>(
        _ body: (inout KeyspaceState, Timestamp) throws(Failure) -> Value
    ) -> (Value?, Failure?, ChangePublisher.Signals) {
        let now = clock.now()
        // The changes are published even when `body` throws: it may have made one (a key found
        // expired) before failing.
        return state.withLock { state in
            do throws(Failure) {
                let value = try body(&state, now)
                return (Optional(value), Failure?.none, publisher.publish(changesOf: &state, at: now))
            } catch {
                var signals = publisher.publish(changesOf: &state, at: now)
                signals.isEvictionInterrupted = state.memory.isInterrupted
                state.memory.isInterrupted = false
                return (nil, error, signals)
            }
        }
    }

    /// Acts on the signals once the lock is released: delivers to the consumers claimed (and
    /// puts back what one that left could not take, which may claim others), wakes the expirer
    /// and the subscribers, counts. Returns why the journaled changes are not in the log, if
    /// they are not.
    private func finish(_ signals: ChangePublisher.Signals) -> PersistenceError? {
        var writeFailure: PersistenceError?
        var pending = [signals]
        while let signals = pending.popLast() {
            if let failure = act(on: signals), writeFailure == nil {
                writeFailure = failure
            }
            guard !signals.handOffs.isEmpty else { continue }
            // Consumers wait for the changes that served them to be durable, when they were
            // journaled (a push straight to a waiting pop changes nothing on disk).
            let ticket = signals.checkJournal ? journal?.pendingDurability() : nil
            for handOff in signals.handOffs
            where !handOff.receiver.deliver(handover(of: handOff.handed), durableAfter: ticket) {
                let (_, _, more) = locked { state, now in state.putBack(handOff.handed, now: now) }
                pending.append(more)
            }
        }
        return writeFailure
    }

    /// Acts on the signals but for hand-offs; returns why the journaled changes are not in the
    /// log, if they are not.
    private func act(on signals: ChangePublisher.Signals) -> PersistenceError? {
        var writeFailure: PersistenceError?
        if signals.checkJournal, let journal {
            do {
                try journal.checkAppended()
            } catch {
                writeFailure = error
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
        for lateness in signals.visibilityLateness {
            visibilityLateness.recordMilliseconds(lateness)
        }
        if signals.redeliveries > 0 {
            redeliveries.increment(by: signals.redeliveries)
        }
        if signals.deadLettered > 0 {
            deadLettered.increment(by: signals.deadLettered)
        }
        return writeFailure
    }

    /// What a consumer sees of what it got: receipts signed for its leases.
    private func handover(of handed: Handed) -> Handover {
        switch handed {
        case .popped(let queue, let message):
            return .popped(PoppedMessage(queue: queue, stored: message, message: message.payload))
        case .received(let queue, let leases):
            let messages = leases.map { grant in
                let reference = LeaseReference(message: grant.message.id, lease: grant.number)
                return LeasedMessage(
                    queued: grant.message.queued, receipt: signer.receipt(for: reference, in: queue),
                    visibleUntil: grant.deadline, lease: reference)
            }
            return .received(queue: queue, messages: messages)
        case .moved(let source, let message, let destination):
            return .moved(
                PoppedMessage(queue: source, stored: nil, message: message.payload), to: destination)
        case .failed(let error):
            return .failed(error)
        }
    }
}
