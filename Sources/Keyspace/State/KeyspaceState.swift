import Plumbing

/// Everything the engine holds, mutated only under the engine's lock: a value, which calls
/// nothing outside itself but `MessageReceiver.claim()`.
///
/// The three key structures stay in step: every key is in `entries` and `order`; a key with a
/// deadline is also in `deadlines`, under the handle its entry keeps; every leased or delayed
/// message is in `messageTimers`, under the handle it keeps. Consumers waiting for messages
/// are kept apart, by queue name, since they may wait on queues that do not exist yet, and so
/// are the queues' policies, which outlive their queues. A queue with a visible message has
/// no active waiter: a message that becomes visible goes to the oldest waiter instead of
/// staying in line.
///
/// Every mutation records one `KeyspaceChange`; the engine takes them under the same lock
/// (`takeChange()`) and turns each into its events and its journal record, so that the log's
/// order is the order of changes. On start-up the log is redone through `apply(_:)`, which
/// changes the same structures and records nothing.
///
/// A consumer claimed under the lock is owed what it got (`HandOff`); the engine takes those
/// with the changes and delivers them once the lock is released.
///
/// The operations are split by concern: any key (`+Keys`), strings (`+Strings`), queues
/// (`+Queues`), leases (`+Leases`), policies (`+Policies`), waiting consumers (`+Waiters`),
/// deadlines (`+Expiry`), start-up and snapshots (`+Replay`). This file holds the indexes and
/// the helpers that keep them in step.
struct KeyspaceState {
    /// Every key's entry, expired ones not yet removed included.
    private(set) var entries = EntryTable()
    /// The same keys in byte order, for listings.
    private(set) var order = SortedKeyIndex()
    /// The keys with a deadline, earliest first.
    private(set) var deadlines = ExpiryIndex()
    /// The leases and delays of every queue, earliest first.
    var messageTimers = MessageTimers()
    /// The policies of queues, by name, whether or not the queue holds messages.
    var policies: [Key: QueuePolicy] = [:]
    /// The messages of every queue, by state.
    private(set) var messageCounts = MessageCounts()
    /// Every waiting consumer, by receiver: the one record of who still waits. Changed only by
    /// the operations of `+Waiters`, like the next two.
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
    /// The consumers claimed and not yet handed what they got.
    private var handOffs: [HandOff] = []
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

    /// Notes that a claimed consumer is owed `handed`, for the engine to deliver.
    mutating func handOff(_ handed: Handed, to receiver: any MessageReceiver) {
        handOffs.append(HandOff(receiver: receiver, handed: handed))
    }

    /// The hand-offs the engine has not yet taken, which it then forgets.
    mutating func takeHandOffs() -> [HandOff] {
        guard !handOffs.isEmpty else { return [] }
        defer { handOffs = [] }
        return handOffs
    }

    /// A new version, later than every one given out.
    mutating func nextVersion() -> Version {
        lastVersion += 1
        return Version(lastVersion)
    }

    /// A new number from the version counter, later than every version given out: the ids of
    /// messages, their places in line, and the numbers of leases.
    mutating func nextNumber() -> UInt64 {
        nextVersion().rawValue
    }

    /// Makes later versions follow `version`, one read from a snapshot or the log.
    mutating func noteVersion(_ version: UInt64) {
        lastVersion = max(lastVersion, version)
    }

    /// Adds an entry for a key that has none, to every index. O(log n).
    mutating func insert(_ entry: Entry, forKey key: Key) {
        var entry = entry
        entry.expiry = entry.deadline.map { deadlines.insert(key, deadline: $0) }
        if case .queue(var queue) = entry.value {
            queueCount += 1
            messageCounts += queue.counts
            armTimers(of: &queue, key: key)
            entry.value = .queue(queue)
        }
        entries[key] = entry
        order.insert(key)
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
        if case .queue(let queue) = entry.value {
            queueCount -= 1
            messageCounts -= queue.counts
            for timer in queue.timers {
                messageTimers.remove(timer)
            }
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
        guard let result = updateQueueIfPresent(queue, body) else {
            preconditionFailure("updating a queue that is not there")
        }
        return result
    }

    /// Runs `body` like `updateQueue(_:_:)` when `queue` holds a queue; `nil` otherwise. One
    /// lookup of the key.
    mutating func updateQueueIfPresent<Result>(_ queue: Key, _ body: (inout QueueValue) -> Result) -> Result?
    {
        let result = entries.modify(queue) { entry -> Result? in
            guard case .queue(var value) = entry.value else { return nil }
            entry.value = .queue(QueueValue())
            let (bytesBefore, countsBefore) = (value.bytes, value.counts)
            let result = body(&value)
            liveBytes += value.bytes - bytesBefore
            messageCounts -= countsBefore
            messageCounts += value.counts
            entry.value = .queue(value)
            return result
        }
        return result ?? nil
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
        guard messageTimersAreConsistent else { return false }
        let withDeadline = entries.values.filter { $0.deadline != nil }
        guard withDeadline.count == deadlines.count else { return false }
        return withDeadline.allSatisfy { entry in
            entry.expiry.map { deadlines.deadline(of: $0) == entry.deadline } ?? false
        }
    }

    /// Whether every leased and delayed message has its timer, at its deadline, and the counts
    /// add up. O(messages).
    private var messageTimersAreConsistent: Bool {
        guard messageTimers.isConsistent else { return false }
        var counts = MessageCounts()
        var timers = 0
        for entry in entries.values {
            guard case .queue(let queue) = entry.value else { continue }
            guard queue.count > 0 else { return false }
            counts += queue.counts
            for lease in queue.leases.values {
                guard let timer = lease.timer, messageTimers.deadline(of: timer) == lease.deadline,
                    messageTimers.element(of: timer)?.id == lease.message.id
                else { return false }
                timers += 1
            }
            for delayed in queue.delayed.values {
                guard let timer = delayed.timer, messageTimers.deadline(of: timer) == delayed.until,
                    messageTimers.element(of: timer)?.id == delayed.message.id
                else { return false }
                timers += 1
            }
            guard zip(queue.visible, queue.visible.dropFirst()).allSatisfy({ $0.place <= $1.place }) else {
                return false
            }
        }
        return counts == messageCounts && timers == messageTimers.count
    }

    /// Arms the timers of the leased and delayed messages of `queue`, a value being inserted
    /// under `key` (read from a snapshot). O(those messages × log n).
    private mutating func armTimers(of queue: inout QueueValue, key: Key) {
        for lease in queue.leases.values {
            let timer = messageTimers.insert(
                MessageTimer(queue: key, id: lease.message.id), deadline: lease.deadline)
            queue.setTimer(timer, of: lease.message.id)
        }
        for delayed in queue.delayed.values {
            let timer = messageTimers.insert(
                MessageTimer(queue: key, id: delayed.message.id), deadline: delayed.until)
            queue.setTimer(timer, of: delayed.message.id)
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
