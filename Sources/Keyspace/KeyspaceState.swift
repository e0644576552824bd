import Plumbing

/// Everything the engine holds, mutated only under the engine's lock.
///
/// The three key structures stay in step: every key is in `entries` and `order`; a key with a
/// deadline is also in `deadlines`, under the handle its entry keeps. Consumers waiting for
/// messages are kept apart, by queue name, since they may wait on queues that do not exist yet.
/// A queue that holds messages has no active waiter: a push hands its message to the oldest
/// waiter instead of storing it.
///
/// With persistence on, every change is also appended to the `journal`, under the same lock, so
/// that the log's order is the order of changes. On start-up the log is redone through
/// `apply(_:)`, which changes the same structures without events, journal or clock.
struct KeyspaceState {
    /// Where every change is recorded as an event.
    let log: EventLog
    /// Where every change is recorded for a restart; `nil` when the keyspace lives in memory only.
    var journal: Journal?
    private var entries = EntryTable()
    private var order = SortedKeyIndex()
    private var deadlines = ExpiryIndex()
    /// Every waiting consumer, by receiver: the one record of who still waits.
    private var waiters: [ObjectIdentifier: Waiter] = [:]
    /// The waits on each queue, oldest first; a list may still name waits that ended.
    private var waitersByQueue: [Key: WaiterList] = [:]
    /// The number of the newest registration of a waiting consumer.
    private var lastRegistration: UInt64 = 0
    private var lastVersion: UInt64 = 0
    /// The deadline the expirer sleeps until; `nil` when it has nothing to wait for.
    private var expirerWakeup: Timestamp?
    /// Set when a deadline earlier than `expirerWakeup` appears; the engine wakes the expirer.
    private var isExpirerWakeNeeded = false
    /// Set when events were recorded; the engine tells the subscribers once unlocked.
    private var hasNewEvents = false
    /// How late each key removed at its deadline since the last `takeSignals()` was; the
    /// engine reports them once unlocked.
    private var expiryLateness: [Int64] = []
    /// Set when changes were appended to the journal; the engine checks they found room.
    private var hasJournaled = false
    /// The number of keys holding a queue; the others hold strings.
    private(set) var queueCount = 0
    /// The id of the newest event.
    private(set) var lastEventID: UInt64 = 0
    /// The bytes of every key and value together: the live data that compaction weighs the log
    /// against.
    private(set) var liveBytes = 0

    init(log: EventLog) {
        self.log = log
    }

    /// The number of keys, expired ones not yet removed included.
    var count: Int { entries.count }

    /// The number of keys with a deadline.
    var volatileCount: Int { deadlines.count }

    /// The entry of `key` unless absent or expired; an expired one is removed on the way.
    mutating func liveEntry(_ key: Key, now: Timestamp) -> Entry? {
        guard let entry = entries[key] else { return nil }
        guard !entry.isExpired(at: now) else {
            remove(key)
            recordExpiry(of: key, deadline: entry.deadline ?? now, now: now)
            journal(.expire(key: key))
            return nil
        }
        return entry
    }

    /// Writes `value`, replacing a value of the same type; `deadline` `nil` makes it persistent.
    mutating func write(
        _ value: Entry.Value, forKey key: Key, deadline: Timestamp?, condition: WriteCondition,
        now: Timestamp
    ) throws(KeyspaceError) -> WriteOutcome {
        let current = liveEntry(key, now: now)
        // The type first: a condition on a key of another type is not the question asked.
        if let current, current.value.type != value.type {
            throw .wrongType(key: key, actual: current.value.type)
        }
        guard condition.isSatisfied(byCurrent: current?.version) else {
            throw .conditionFailed(key: key)
        }
        lastVersion += 1
        let version = Version(lastVersion)
        record(.set, key, now)
        defer {
            if case .string(let payload) = value {
                journal(.set(key: key, value: payload, version: version, deadline: deadline))
            }
        }
        guard var entry = current else {
            insert(Entry(value: value, version: version, deadline: deadline), forKey: key)
            return .created(version)
        }
        liveBytes += value.bytes - entry.value.bytes
        entry.value = value
        entry.version = version
        moveDeadline(of: &entry, to: deadline, key: key)
        entries[key] = entry
        return .replaced(version)
    }

    /// Deletes `key` if it holds a value of `type`; `false` when absent.
    mutating func delete(
        _ key: Key, ofType type: KeyType, condition: WriteCondition, now: Timestamp
    ) throws(KeyspaceError) -> Bool {
        let current = liveEntry(key, now: now)
        if let current, current.value.type != type {
            throw .wrongType(key: key, actual: current.value.type)
        }
        guard condition.isSatisfied(byCurrent: current?.version) else {
            throw .conditionFailed(key: key)
        }
        guard current != nil else { return false }
        remove(key)
        record(.del, key, now)
        journal(.delete(key: key))
        return true
    }

    /// Sets or clears the deadline of `key`; `false` when absent.
    mutating func setDeadline(_ deadline: Timestamp?, forKey key: Key, now: Timestamp) -> Bool {
        guard var entry = liveEntry(key, now: now) else { return false }
        if deadline != nil {
            record(.expire, key, now)
        } else if entry.deadline != nil {
            record(.persist, key, now)
        }
        moveDeadline(of: &entry, to: deadline, key: key)
        entries[key] = entry
        journal(.deadline(key: key, deadline: deadline))
        return true
    }

    /// One page of keys with `prefix` after `cursor`, skipping expired ones.
    ///
    /// O(log n + limit). At most `scanBudget` keys are looked at, so that a run of expired
    /// keys not yet removed cannot hold the lock long: the page may then be short, with a
    /// cursor to continue from.
    func page(
        prefix: [UInt8], after cursor: Key?, limit: Int, scanBudget: Int, now: Timestamp
    ) -> KeyPage {
        var keys: [KeyInfo] = []
        var lastSeen: Key?
        var hasMore = false
        var budget = scanBudget
        let (start, strictly) =
            if let cursor, ByteOrder.compare(cursor.bytes, prefix) >= 0 {
                (cursor.bytes, true)
            } else {
                (prefix, false)
            }
        order.forEach(from: start, strictly: strictly) { key in
            guard key.hasPrefix(prefix) else { return false }
            guard keys.count < limit, budget > 0 else {
                hasMore = true
                return false
            }
            budget -= 1
            lastSeen = key
            if let entry = entries[key], !entry.isExpired(at: now) {
                keys.append(
                    KeyInfo(
                        key: key, type: entry.value.type, timeToLive: entry.timeToLive(at: now),
                        bytes: entry.value.bytes, length: entry.value.length))
            }
            return true
        }
        return KeyPage(keys: keys, cursor: hasMore ? lastSeen : nil)
    }

    /// Appends `message` to `queue`, or hands it to the oldest waiting consumer.
    mutating func push(_ message: Payload, to queue: Key, now: Timestamp) throws(KeyspaceError)
        -> PushOutcome
    {
        try place(message, in: queue, atHead: false, now: now)
    }

    /// Puts back a message whose hand-off failed: to the next waiting consumer, or at the head
    /// of its queue, where it was the oldest.
    mutating func giveBack(_ message: Payload, to queue: Key, now: Timestamp) throws(KeyspaceError)
        -> PushOutcome
    {
        try place(message, in: queue, atHead: true, now: now)
    }

    /// Pops the oldest message of the first non-empty queue, in the order given.
    ///
    /// With a `receiver`, nothing to pop registers it on every queue instead, unless one has
    /// `limit` receivers registered already, and a message is only taken once the receiver is
    /// claimed for it; `.gone` when it can no longer be.
    mutating func pop(
        from queues: [Key], registering receiver: (any MessageReceiver)?, waitingAtMost limit: Int,
        now: Timestamp
    ) throws(KeyspaceError) -> PopOutcome {
        var first: Key?
        for queue in queues {
            // Every queue is checked, so a string among them is refused even after a hit.
            if try queueLength(queue, now: now) != nil, first == nil {
                first = queue
            }
        }
        guard let queue = first else {
            guard let receiver else { return .empty }
            try register(receiver, on: queues, waitingAtMost: limit)
            return .waiting
        }
        if let receiver, !receiver.claim() {
            return .gone
        }
        let (message, remaining) = updateQueue(queue) { value in
            (value.removeFirst(), value.messages.count)
        }
        guard let message else { preconditionFailure("a stored queue is never empty") }
        record(.pop, queue, now)
        if remaining == 0 {
            remove(queue)
            record(.del, queue, now)
        }
        journal(.pop(queue: queue))
        return .popped(PoppedMessage(queue: queue, message: message))
    }

    /// Forgets a waiting consumer, on every queue it waits on. O(number of its queues).
    mutating func cancelWait(_ receiver: any MessageReceiver) {
        guard let waiter = waiters.removeValue(forKey: ObjectIdentifier(receiver)) else { return }
        noteEnded(waiter, except: nil)
    }

    /// The length and waiting consumers of `queue`.
    mutating func queueInfo(_ queue: Key, now: Timestamp) throws(KeyspaceError) -> QueueInfo {
        QueueInfo(
            length: try queueLength(queue, now: now) ?? 0,
            consumers: waitingCount(on: queue))
    }

    /// The oldest `limit` messages of `queue`, left in place. O(limit).
    mutating func peek(_ queue: Key, limit: Int, now: Timestamp) throws(KeyspaceError) -> [Payload] {
        guard try queueLength(queue, now: now) != nil else { return [] }
        return updateQueue(queue) { Array($0.messages.prefix(limit)) }
    }

    /// Removes up to `limit` keys whose deadline is at or before `now`, earliest first.
    ///
    /// O(limit × log n). Records the next deadline as the one the expirer will sleep until.
    mutating func expireDue(now: Timestamp, limit: Int) -> ExpiryPass {
        var expired: [Key] = []
        while expired.count < limit, let (deadline, key, _) = deadlines.first, deadline <= now {
            remove(key)
            recordExpiry(of: key, deadline: deadline, now: now)
            journal(.expire(key: key))
            expired.append(key)
        }
        let next = deadlines.first?.deadline
        expirerWakeup = next
        let hasMoreDue = next.map { $0 <= now } ?? false
        return ExpiryPass(expired: expired, nextDeadline: next, hasMoreDue: hasMoreDue)
    }

    /// What must be done once the lock is released: wake the expirer for a new earlier
    /// deadline, tell subscribers of new events, report expirations. Resets all three.
    mutating func takeSignals() -> Signals {
        defer {
            isExpirerWakeNeeded = false
            hasNewEvents = false
            hasJournaled = false
            if !expiryLateness.isEmpty {
                expiryLateness = []
            }
        }
        return Signals(
            wakeExpirer: isExpirerWakeNeeded, notifySubscribers: hasNewEvents,
            expiryLateness: expiryLateness, checkJournal: hasJournaled)
    }

    /// What an operation leaves for the engine to do once it has released the lock.
    struct Signals {
        /// A deadline earlier than the expirer's planned wake-up was added.
        var wakeExpirer: Bool
        /// Events were recorded.
        var notifySubscribers: Bool
        /// Keys were removed at their deadline, this many milliseconds late.
        var expiryLateness: [Int64]
        /// Changes were appended to the journal.
        var checkJournal: Bool
    }

    /// The number of consumers waiting on at least one queue.
    var waitingCount: Int { waiters.count }

    /// The number of consumers waiting on `queue`.
    func waitingCount(on queue: Key) -> Int {
        waitersByQueue[queue]?.activeCount ?? 0
    }

    /// The keys and counters a snapshot saves, as they are now. O(1): the tables are shared
    /// until the next change to each, which then copies that one table (a 64th of the keys),
    /// and the ordered index's chunks likewise (one chunk of at most 1 024 keys).
    func capture() -> KeyspaceCapture {
        KeyspaceCapture(entries: entries, order: order, lastVersion: lastVersion, lastEventID: lastEventID)
    }

    /// Redoes a change read from the log, as it was made: no event, no journal, no expiry
    /// (deadlines are absolute; keys past theirs are expired once the whole log is redone).
    /// A change that does not fit the state, which only a damaged log could hold, is ignored.
    mutating func apply(_ record: JournalRecord) {
        lastEventID = max(lastEventID, record.lastEventID)
        switch record.change {
        case .set(let key, let value, let version, let deadline):
            lastVersion = max(lastVersion, version.rawValue)
            remove(key)
            insert(Entry(value: .string(value), version: version, deadline: deadline), forKey: key)
        case .delete(let key), .expire(let key):
            remove(key)
        case .deadline(let key, let deadline):
            guard var entry = entries[key] else { return }
            moveDeadline(of: &entry, to: deadline, key: key)
            entries[key] = entry
        case .push(let queue, let message, let atHead, let created):
            if case .queue = entries[queue]?.value {
                updateQueue(queue) { value in
                    if atHead {
                        value.prepend(message)
                    } else {
                        value.append(message)
                    }
                }
                return
            }
            remove(queue)
            lastVersion = max(lastVersion, created?.rawValue ?? lastVersion + 1)
            var value = QueueValue()
            value.append(message)
            insert(Entry(value: .queue(value), version: created ?? Version(lastVersion)), forKey: queue)
        case .pop(let queue):
            guard case .queue = entries[queue]?.value else { return }
            let remaining = updateQueue(queue) { value in
                _ = value.removeFirst()
                return value.messages.count
            }
            if remaining == 0 {
                remove(queue)
            }
        }
    }

    /// Adds a key read from a snapshot.
    mutating func restore(_ key: Key, value: Entry.Value, version: Version, deadline: Timestamp?) {
        lastVersion = max(lastVersion, version.rawValue)
        remove(key)
        insert(Entry(value: value, version: version, deadline: deadline), forKey: key)
    }

    /// Sets the counters a snapshot saved, before its keys are restored.
    mutating func restoreCounters(lastVersion: UInt64, lastEventID: UInt64) {
        self.lastVersion = max(self.lastVersion, lastVersion)
        self.lastEventID = max(self.lastEventID, lastEventID)
    }

    /// Checks that entries, order, deadlines and waiters agree; for tests. O(n).
    var isConsistent: Bool {
        guard deadlines.isConsistent, order.count == entries.count else { return false }
        for (queue, list) in waitersByQueue {
            let active = list.entries.count(where: { id in
                waiters[id.receiver].map { $0.id == id && $0.queues.contains(queue) } ?? false
            })
            guard active == list.activeCount, !list.isIdle else { return false }
        }
        let registrations = waiters.values.reduce(0) { $0 + $1.queues.count }
        guard registrations == waitersByQueue.values.reduce(0, { $0 + $1.activeCount }) else {
            return false
        }
        guard entries.values.count(where: { $0.value.type == .queue }) == queueCount else { return false }
        let withDeadline = entries.values.filter { $0.deadline != nil }
        guard withDeadline.count == deadlines.count else { return false }
        return withDeadline.allSatisfy { entry in
            entry.expiry.map { deadlines.deadline(of: $0) == entry.deadline } ?? false
        }
    }

    /// The number of messages in `queue`, `nil` when absent or expired; a string there is a
    /// type error.
    private mutating func queueLength(_ queue: Key, now: Timestamp) throws(KeyspaceError) -> Int? {
        guard let entry = liveEntry(queue, now: now) else { return nil }
        guard case .queue(let value) = entry.value else {
            throw .wrongType(key: queue, actual: entry.value.type)
        }
        return value.messages.count
    }

    /// Hands a message to the oldest waiting consumer of an empty queue, or stores it at the
    /// tail (or head) of the queue, creating the queue when absent.
    private mutating func place(_ message: Payload, in queue: Key, atHead: Bool, now: Timestamp)
        throws(KeyspaceError) -> PushOutcome
    {
        let stored = try queueLength(queue, now: now)
        record(.push, queue, now)
        guard stored != nil else {
            if let receiver = claimOldestWaiter(on: queue) {
                // Straight from the push to a consumer: it was popped as soon as pushed, and
                // the keyspace is as it was, so there is nothing to journal.
                record(.pop, queue, now)
                return .handed(to: receiver)
            }
            var value = QueueValue()
            value.append(message)
            lastVersion += 1
            let version = Version(lastVersion)
            insert(Entry(value: .queue(value), version: version), forKey: queue)
            journal(.push(queue: queue, message: message, atHead: atHead, created: version))
            return .stored(length: 1)
        }
        journal(.push(queue: queue, message: message, atHead: atHead, created: nil))
        let length = updateQueue(queue) { value in
            if atHead {
                value.prepend(message)
            } else {
                value.append(message)
            }
            return value.messages.count
        }
        return .stored(length: length)
    }

    /// Runs `body` on the messages of an existing queue, in place: the queue's storage is
    /// detached from the entry first so that it is uniquely referenced and never copied.
    @discardableResult
    private mutating func updateQueue<Result>(_ queue: Key, _ body: (inout QueueValue) -> Result)
        -> Result
    {
        let result = entries.modify(queue) { entry in
            guard case .queue(var value) = entry.value else {
                preconditionFailure("updating a queue that is not there")
            }
            entry.value = .queue(QueueValue())
            let bytesBefore = value.bytes
            let result = body(&value)
            liveBytes += value.bytes - bytesBefore
            entry.value = .queue(value)
            return result
        }
        guard let result else { preconditionFailure("updating a queue that is not there") }
        return result
    }

    /// Registers `receiver` as waiting on each of `queues` (distinct), unless one has `limit`
    /// consumers waiting already. O(number of queues).
    private mutating func register(
        _ receiver: any MessageReceiver, on queues: [Key], waitingAtMost limit: Int
    ) throws(KeyspaceError) {
        for queue in queues where waitingCount(on: queue) >= limit {
            throw .tooManyWaiting(queue: queue, limit: limit)
        }
        // A receiver waits once: a second registration replaces the first.
        cancelWait(receiver)
        lastRegistration += 1
        let id = Waiter.ID(receiver: ObjectIdentifier(receiver), registration: lastRegistration)
        waiters[id.receiver] = Waiter(id: id, receiver: receiver, queues: queues)
        for queue in queues {
            waitersByQueue[queue, default: WaiterList()].append(id)
        }
    }

    /// Claims the oldest waiter on `queue` that still waits, forgetting those that can no
    /// longer be claimed. O(1) amortized per waiter forgotten.
    private mutating func claimOldestWaiter(on queue: Key) -> (any MessageReceiver)? {
        guard var list = waitersByQueue.removeValue(forKey: queue) else { return nil }
        defer {
            if !list.isIdle {
                waitersByQueue[queue] = list
            }
        }
        while let waiter = list.removeOldestActive(in: waiters) {
            waiters[waiter.id.receiver] = nil
            noteEnded(waiter, except: queue)
            // The one call out of the keyspace under its lock: an atomic flag flip.
            if waiter.receiver.claim() {
                return waiter.receiver
            }
        }
        return nil
    }

    /// Tells the lists of a waiter that left `waiters` that it ended, but the list of
    /// `exception`, which has already taken it out; idle lists are dropped.
    private mutating func noteEnded(_ waiter: Waiter, except exception: Key?) {
        for queue in waiter.queues where queue != exception {
            guard var list = waitersByQueue.removeValue(forKey: queue) else { continue }
            list.noteDeactivated(keeping: waiters)
            if !list.isIdle {
                waitersByQueue[queue] = list
            }
        }
    }

    private mutating func record(_ type: KeyspaceEventType, _ key: Key, _ now: Timestamp) {
        lastEventID = log.append(type, key: key, time: now)
        hasNewEvents = true
    }

    /// Appends a change to the journal, if there is one.
    private mutating func journal(_ change: JournalRecord.Change) {
        guard let journal else { return }
        journal.append(JournalRecord(change, lastEventID: lastEventID), liveBytes: liveBytes)
        hasJournaled = true
    }

    /// Records the `expired` event of a key removed at `deadline`, and how late that was.
    private mutating func recordExpiry(of key: Key, deadline: Timestamp, now: Timestamp) {
        record(.expired, key, now)
        expiryLateness.append(max(now.milliseconds - deadline.milliseconds, 0))
    }

    /// Adds an entry for a key that has none, to every index.
    private mutating func insert(_ entry: Entry, forKey key: Key) {
        var entry = entry
        entry.expiry = entry.deadline.map { insertDeadline($0, for: key) }
        entries[key] = entry
        order.insert(key)
        if entry.value.type == .queue {
            queueCount += 1
        }
        liveBytes += key.bytes.count + entry.value.bytes
    }

    private mutating func remove(_ key: Key) {
        guard let entry = entries.removeValue(forKey: key) else { return }
        if entry.value.type == .queue {
            queueCount -= 1
        }
        liveBytes -= key.bytes.count + entry.value.bytes
        order.remove(key)
        if let expiry = entry.expiry {
            deadlines.remove(expiry)
        }
    }

    private mutating func moveDeadline(of entry: inout Entry, to deadline: Timestamp?, key: Key) {
        switch (entry.expiry, deadline) {
        case (nil, nil):
            break
        case (let expiry?, nil):
            deadlines.remove(expiry)
            entry.expiry = nil
        case (nil, let deadline?):
            entry.expiry = insertDeadline(deadline, for: key)
        case (let expiry?, let deadline?):
            deadlines.update(expiry, deadline: deadline)
            noteDeadline(deadline)
        }
        entry.deadline = deadline
    }

    private mutating func insertDeadline(_ deadline: Timestamp, for key: Key) -> ExpiryIndex.Handle {
        noteDeadline(deadline)
        return deadlines.insert(key, deadline: deadline)
    }

    private mutating func noteDeadline(_ deadline: Timestamp) {
        if let wakeup = expirerWakeup, wakeup <= deadline { return }
        expirerWakeup = deadline
        isExpirerWakeNeeded = true
    }
}
