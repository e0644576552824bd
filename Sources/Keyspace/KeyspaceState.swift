import Plumbing

/// Everything the engine holds, mutated only under the engine's lock: a value, which calls
/// nothing outside itself but `MessageReceiver.claim()`.
///
/// The three key structures stay in step: every key is in `entries` and `order`; a key with a
/// deadline is also in `deadlines`, under the handle its entry keeps. Consumers waiting for
/// messages are kept apart, by queue name, since they may wait on queues that do not exist yet.
/// A queue that holds messages has no active waiter: a push hands its message to the oldest
/// waiter instead of storing it.
///
/// Every mutation records one `KeyspaceChange`; the engine takes them under the same lock
/// (`takeChange()`) and turns each into its events and its journal record, so that the log's
/// order is the order of changes. On start-up the log is redone through `apply(_:)`, which
/// changes the same structures and records nothing.
///
/// The type holds the indexes and the helpers that keep them in step; its operations follow in
/// extensions by concern: any key, strings, queues, waiting consumers, deadlines, start-up and
/// snapshots.
struct KeyspaceState {
    /// Every key's entry, expired ones not yet removed included.
    private(set) var entries = EntryTable()
    /// The same keys in byte order, for listings.
    private(set) var order = SortedKeyIndex()
    /// The keys with a deadline, earliest first.
    private(set) var deadlines = ExpiryIndex()
    /// Every waiting consumer, by receiver: the one record of who still waits. Changed only by
    /// the operations on waiting consumers, like the next two.
    var waiters: [ObjectIdentifier: Waiter] = [:]
    /// The waits on each queue, oldest first; a list may still name waits that ended.
    var waitersByQueue: [Key: WaiterList] = [:]
    /// The number of the newest registration of a waiting consumer.
    var lastRegistration: UInt64 = 0
    /// The deadline the expirer sleeps until; `nil` when it has nothing to wait for. Its pass
    /// sets it, and the engine lowers it (waking the expirer) when an earlier deadline appears.
    var expirerWakeup: Timestamp?
    /// The id of the newest event: restored on start-up, advanced by the engine as it
    /// publishes the changes, saved in snapshots and log records.
    var lastEventID: UInt64 = 0
    /// The changes made that the engine has not yet taken.
    private var changes = ChangeList()
    /// The newest version given out.
    private(set) var lastVersion: UInt64 = 0
    /// The number of keys holding a queue; the others hold strings.
    private(set) var queueCount = 0
    /// The bytes of every key and value together: the live data that compaction weighs the log
    /// against.
    private(set) var liveBytes = 0

    /// Creates an empty keyspace.
    init() {}

    /// The number of keys, expired ones not yet removed included.
    var count: Int { entries.count }

    /// The number of keys with a deadline.
    var volatileCount: Int { deadlines.count }

    /// Notes a change just made, for the engine to publish.
    mutating func record(_ change: consuming KeyspaceChange) {
        changes.append(change)
    }

    /// The oldest change the engine has not yet taken, which it then forgets; `nil` once all
    /// are taken.
    mutating func takeChange() -> KeyspaceChange? {
        changes.removeFirst()
    }

    /// A new version, later than every one given out.
    mutating func nextVersion() -> Version {
        lastVersion += 1
        return Version(lastVersion)
    }

    /// Makes later versions follow `version`, one read from a snapshot or the log.
    mutating func noteVersion(_ version: UInt64) {
        lastVersion = max(lastVersion, version)
    }

    /// Adds an entry for a key that has none, to every index. O(log n).
    mutating func insert(_ entry: Entry, forKey key: Key) {
        var entry = entry
        entry.expiry = entry.deadline.map { deadlines.insert(key, deadline: $0) }
        entries[key] = entry
        order.insert(key)
        if entry.value.type == .queue {
            queueCount += 1
        }
        liveBytes += key.bytes.count + entry.value.bytes
    }

    /// Gives `entry`, the current entry of `key`, a new value of the same type, version and
    /// deadline. O(log n) when the deadline changes.
    mutating func replace(
        _ entry: consuming Entry, forKey key: Key, with value: Entry.Value, version: Version,
        deadline: Timestamp?
    ) {
        liveBytes += value.bytes - entry.value.bytes
        entry.value = value
        entry.version = version
        moveDeadline(of: &entry, to: deadline, key: key)
        entries[key] = entry
    }

    /// Sets or clears the deadline of `entry`, the current entry of `key`. O(log n).
    mutating func setDeadline(_ deadline: Timestamp?, of entry: consuming Entry, forKey key: Key) {
        moveDeadline(of: &entry, to: deadline, key: key)
        entries[key] = entry
    }

    /// Removes `key` from every index, if present. O(log n).
    mutating func remove(_ key: Key) {
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

    /// Runs `body` on the messages of an existing queue, in place: the queue's storage is
    /// detached from the entry first so that it is uniquely referenced and never copied.
    @discardableResult
    mutating func updateQueue<Result>(_ queue: Key, _ body: (inout QueueValue) -> Result) -> Result {
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

    /// Moves `entry` of `key` to `deadline` in the expiry index.
    private mutating func moveDeadline(of entry: inout Entry, to deadline: Timestamp?, key: Key) {
        switch (entry.expiry, deadline) {
        case (nil, nil):
            break
        case (let expiry?, nil):
            deadlines.remove(expiry)
            entry.expiry = nil
        case (nil, let deadline?):
            entry.expiry = deadlines.insert(key, deadline: deadline)
        case (let expiry?, let deadline?):
            deadlines.update(expiry, deadline: deadline)
        }
        entry.deadline = deadline
    }
}

extension KeyspaceState {
    /// The entry of `key` unless absent or expired; an expired one is removed on the way.
    mutating func liveEntry(_ key: Key, now: Timestamp) -> Entry? {
        guard let entry = entries[key] else { return nil }
        guard let deadline = entry.deadline, deadline <= now else { return entry }
        expire(key, deadline: deadline, now: now)
        return nil
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
        record(.delete(key: key))
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
}

extension KeyspaceState {
    /// Writes a string value, replacing a string; `deadline` `nil` makes the key persistent.
    mutating func write(
        _ value: Payload, forKey key: Key, deadline: Timestamp?, condition: WriteCondition, now: Timestamp
    ) throws(KeyspaceError) -> WriteOutcome {
        let current = liveEntry(key, now: now)
        // The type first: a condition on a key of another type is not the question asked.
        if let current, current.value.type != .string {
            throw .wrongType(key: key, actual: current.value.type)
        }
        guard condition.isSatisfied(byCurrent: current?.version) else {
            throw .conditionFailed(key: key)
        }
        let version = nextVersion()
        record(.set(key: key, value: value, version: version, deadline: deadline))
        guard let current else {
            insert(Entry(value: .string(value), version: version, deadline: deadline), forKey: key)
            return .created(version)
        }
        replace(current, forKey: key, with: .string(value), version: version, deadline: deadline)
        return .replaced(version)
    }
}

extension KeyspaceState {
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
    /// claimed for it; `.gone` when it can no longer be. O(number of queues).
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
        if remaining == 0 {
            remove(queue)
        }
        record(.pop(queue: queue, emptied: remaining == 0))
        return .popped(PoppedMessage(queue: queue, message: message))
    }

    /// The length and waiting consumers of `queue`.
    mutating func queueInfo(_ queue: Key, now: Timestamp) throws(KeyspaceError) -> QueueInfo {
        QueueInfo(length: try queueLength(queue, now: now) ?? 0, consumers: waitingCount(on: queue))
    }

    /// The oldest `limit` messages of `queue`, left in place. O(limit).
    mutating func peek(_ queue: Key, limit: Int, now: Timestamp) throws(KeyspaceError) -> [Payload] {
        guard try queueLength(queue, now: now) != nil else { return [] }
        return updateQueue(queue) { Array($0.messages.prefix(limit)) }
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
        guard try queueLength(queue, now: now) != nil else {
            if let receiver = claimOldestWaiter(on: queue) {
                record(.handOff(queue: queue))
                return .handed(to: receiver)
            }
            var value = QueueValue()
            value.append(message)
            let version = nextVersion()
            insert(Entry(value: .queue(value), version: version), forKey: queue)
            record(.push(queue: queue, message: message, atHead: atHead, created: version))
            return .stored(length: 1)
        }
        let length = updateQueue(queue) { value in
            if atHead {
                value.prepend(message)
            } else {
                value.append(message)
            }
            return value.messages.count
        }
        record(.push(queue: queue, message: message, atHead: atHead, created: nil))
        return .stored(length: length)
    }
}

extension KeyspaceState {
    /// The number of consumers waiting on at least one queue.
    var waitingCount: Int { waiters.count }

    /// The number of consumers waiting on `queue`.
    func waitingCount(on queue: Key) -> Int {
        waitersByQueue[queue]?.activeCount ?? 0
    }

    /// Registers `receiver` as waiting on each of `queues` (distinct), unless one has `limit`
    /// consumers waiting already. O(number of queues).
    mutating func register(_ receiver: any MessageReceiver, on queues: [Key], waitingAtMost limit: Int)
        throws(KeyspaceError)
    {
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

    /// Forgets a waiting consumer, on every queue it waits on. O(number of its queues).
    mutating func cancelWait(_ receiver: any MessageReceiver) {
        guard let waiter = waiters.removeValue(forKey: ObjectIdentifier(receiver)) else { return }
        noteEnded(waiter, except: nil)
    }

    /// Claims the oldest waiter on `queue` that still waits, forgetting those that can no
    /// longer be claimed. O(1) amortized per waiter forgotten.
    mutating func claimOldestWaiter(on queue: Key) -> (any MessageReceiver)? {
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
}

extension KeyspaceState {
    /// Sets or clears the deadline of `key`; `false` when absent. O(log n).
    mutating func setDeadline(_ deadline: Timestamp?, forKey key: Key, now: Timestamp) -> Bool {
        guard let entry = liveEntry(key, now: now) else { return false }
        record(.deadline(key: key, deadline: deadline, hadDeadline: entry.deadline != nil))
        setDeadline(deadline, of: entry, forKey: key)
        return true
    }

    /// Removes up to `limit` keys whose deadline is at or before `now`, earliest first.
    ///
    /// O(limit × log n). Records the next deadline as the one the expirer will sleep until.
    mutating func expireDue(now: Timestamp, limit: Int) -> ExpiryPass {
        var expired: [Key] = []
        while expired.count < limit, let (deadline, key, _) = deadlines.first, deadline <= now {
            expire(key, deadline: deadline, now: now)
            expired.append(key)
        }
        let next = deadlines.first?.deadline
        expirerWakeup = next
        let hasMoreDue = next.map { $0 <= now } ?? false
        return ExpiryPass(expired: expired, nextDeadline: next, hasMoreDue: hasMoreDue)
    }

    /// Removes `key`, found at `now` past its `deadline`. O(log n).
    mutating func expire(_ key: Key, deadline: Timestamp, now: Timestamp) {
        remove(key)
        record(.expire(key: key, lateness: max(now.milliseconds - deadline.milliseconds, 0)))
    }
}

extension KeyspaceState {
    /// The keys and counters a snapshot saves, as they are now. O(1): the tables are shared
    /// until the next change to each, which then copies that one table (a 64th of the keys),
    /// and the ordered index's chunks likewise (one chunk of at most 1 024 keys).
    func capture() -> KeyspaceCapture {
        KeyspaceCapture(entries: entries, order: order, lastVersion: lastVersion, lastEventID: lastEventID)
    }

    /// Redoes a change read from the log, as it was made: no change recorded, no clock, no
    /// expiry (deadlines are absolute; keys past theirs are expired once the whole log is
    /// redone). A change that does not fit the state, which only a damaged log could hold, is
    /// ignored.
    mutating func apply(_ record: JournalRecord) {
        lastEventID = max(lastEventID, record.lastEventID)
        switch record.change {
        case .set(let key, let value, let version, let deadline):
            noteVersion(version.rawValue)
            remove(key)
            insert(Entry(value: .string(value), version: version, deadline: deadline), forKey: key)
        case .delete(let key), .expire(let key):
            remove(key)
        case .deadline(let key, let deadline):
            guard let entry = entries[key] else { return }
            setDeadline(deadline, of: entry, forKey: key)
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
            let version: Version
            if let created {
                noteVersion(created.rawValue)
                version = created
            } else {
                version = nextVersion()
            }
            var value = QueueValue()
            value.append(message)
            insert(Entry(value: .queue(value), version: version), forKey: queue)
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
        noteVersion(version.rawValue)
        remove(key)
        insert(Entry(value: value, version: version, deadline: deadline), forKey: key)
    }

    /// Sets the counters a snapshot saved, before its keys are restored.
    mutating func restoreCounters(lastVersion: UInt64, lastEventID: UInt64) {
        noteVersion(lastVersion)
        self.lastEventID = max(self.lastEventID, lastEventID)
    }
}
