import Plumbing

/// Everything the engine holds, mutated only under the engine's lock: a value, which calls
/// nothing outside itself but `MessageReceiver.claim()`.
///
/// The three key structures stay in step: every key is in `entries` (which stores it, in a slot)
/// and `order`; a key with a deadline is also in `deadlines`, under the handle its record keeps.
/// `order` and `deadlines` name keys by slot index. `memory` counts the bytes of every key and
/// evicts under a limit (`+Memory`); a queue's bytes count all its messages, visible, leased
/// and delayed, with their leases' bookkeeping. Every leased or delayed message is in
/// `messageTimers`, under the handle it keeps. Consumers waiting for messages are kept apart,
/// by queue name, since they may wait on queues that do not exist yet, and so are the queues'
/// policies, which outlive their queues. A queue with a visible message has no active waiter:
/// a message that becomes visible goes to the oldest waiter instead of staying in line.
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
/// deadlines (`+Expiry`), start-up and snapshots (`+Replay`), memory and eviction (`+Memory`).
/// This file holds the indexes and the helpers that keep them in step.
struct KeyspaceState {
    /// A key found in `entries`: its slot and what the operations check, copied out so that no
    /// reference to its record is held while the record changes.
    struct Located {
        let index: UInt32
        let hash: UInt32
        let type: KeyType
        let version: Version
        let deadline: Timestamp?
    }

    /// Every key's value, expired ones not yet removed included.
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
    /// The bytes held, the limit and the eviction policy's state.
    var memory: MemoryBudget
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

    /// Creates an empty keyspace whose memory `memory` counts and bounds.
    init(memory: MemoryBudget = MemoryBudget()) {
        self.memory = memory
    }

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

    /// The slot of `key` with `hash`, expired or not; `nil` when absent. O(1) on average.
    func find(_ key: Key, hash: UInt32) -> Located? {
        guard let index = entries.index(of: key, hash: hash) else { return nil }
        let stored = entries[index]
        return Located(
            index: index, hash: hash, type: stored.type, version: stored.version, deadline: stored.deadline)
    }

    /// The bytes `MemoryCost` counts for a key holding `stored`.
    static func cost(of stored: borrowing StoredValue) -> Int {
        stored.allocatedBytes + MemoryCost.keyIndex + (stored.rawDeadline == .max ? 0 : MemoryCost.deadline)
    }

    /// Adds `stored`, with the version and deadline it carries, for `key`, which has `hash` and
    /// is absent, to every index; the timers of a queue's leased and delayed messages (read
    /// from a snapshot) are armed. O(log n + those messages × log m).
    @discardableResult
    mutating func insert(_ stored: consuming StoredValue, hash: UInt32, now: Timestamp) -> UInt32 {
        if case .queue(let record) = stored {
            messageCounts += record.value.counts
            armTimers(of: &record.value, key: record.key)
        }
        let deadline = stored.deadline
        let isString = stored.type == .string
        let cost = Self.cost(of: stored)
        liveBytes += stored.withKeyBytes { $0.count } + stored.bytes
        let meta = memory.isTracking ? memory.initialMeta(now: now) : 0
        let index = entries.insert(stored, hash: hash, meta: meta)
        if let deadline {
            let handle = deadlines.insert(index, deadline: deadline)
            entries[index] = entries.take(index).settingDeadline(deadline, expiry: handle)
        }
        order.insert(index, in: entries)
        if !isString {
            queueCount += 1
        }
        memory.add(cost, isString: isString, isVolatile: deadline != nil)
        return index
    }

    /// Gives the key in slot `index` a new string record (with its version set) and deadline.
    /// O(log n) when the deadline changes.
    mutating func replace(_ index: UInt32, with record: StringRecord, deadline: Timestamp?) {
        let old = entries.take(index)
        let oldCost = Self.cost(of: old)
        let oldIsVolatile = old.rawDeadline != .max
        liveBytes += record.valueCount - old.bytes
        let expiry = old.expiry
        memory.add(-oldCost, isString: true, isVolatile: oldIsVolatile)
        let handle = moveDeadline(index, from: expiry, to: deadline)
        let stored = StoredValue.string(record).settingDeadline(deadline, expiry: handle)
        memory.add(Self.cost(of: stored), isString: true, isVolatile: deadline != nil)
        entries[index] = stored
    }

    /// Sets or clears the deadline of the key in slot `index`. O(log n).
    mutating func setDeadline(_ deadline: Timestamp?, at index: UInt32) {
        let old = entries.take(index)
        let isString = old.type == .string
        memory.add(-Self.cost(of: old), isString: isString, isVolatile: old.rawDeadline != .max)
        let handle = moveDeadline(index, from: old.expiry, to: deadline)
        let stored = old.settingDeadline(deadline, expiry: handle)
        memory.add(Self.cost(of: stored), isString: isString, isVolatile: deadline != nil)
        entries[index] = stored
    }

    /// Removes the key in slot `index` from every index; returns its value. The key of the
    /// last slot moves into `index`. O(log n).
    @discardableResult
    mutating func remove(_ index: UInt32) -> StoredValue {
        order.remove(index, in: entries)
        let last = UInt32(entries.count - 1)
        if last != index {
            order.renumber(last, to: index, in: entries)
            if let expiry = entries[last].expiry {
                deadlines.setElement(index, of: expiry)
            }
        }
        let stored = entries.remove(index)
        if case .queue(let record) = stored {
            queueCount -= 1
            messageCounts -= record.value.counts
            for timer in record.value.timers {
                messageTimers.remove(timer)
            }
        }
        liveBytes -= stored.withKeyBytes { $0.count } + stored.bytes
        memory.add(
            -Self.cost(of: stored), isString: stored.type == .string, isVolatile: stored.rawDeadline != .max)
        if let expiry = stored.expiry {
            deadlines.remove(expiry)
        }
        return stored
    }

    /// Removes `key` from every index, if present. O(log n).
    mutating func remove(_ key: Key) {
        guard let index = entries.index(of: key, hash: EntryTable.hash(key)) else { return }
        remove(index)
    }

    /// Runs `body` on the messages of the queue in slot `index`, in place: the record is taken
    /// out of its slot first so that it is uniquely referenced and never copied (but when a
    /// snapshot being written shares it).
    @discardableResult
    mutating func updateQueue<Result>(_ index: UInt32, _ body: (inout QueueValue) -> Result) -> Result {
        guard case .queue(var record) = entries.take(index) else {
            preconditionFailure("updating a queue that is not there")
        }
        if !isKnownUniquelyReferenced(&record) {
            record = record.copy()
        }
        let bytesBefore = record.value.bytes
        let allocatedBefore = record.value.allocatedBytes
        let countsBefore = record.value.counts
        let result = body(&record.value)
        liveBytes += record.value.bytes - bytesBefore
        messageCounts -= countsBefore
        messageCounts += record.value.counts
        memory.add(record.value.allocatedBytes - allocatedBefore, isString: false, isVolatile: false)
        entries[index] = .queue(record)
        return result
    }

    /// Runs `body` on the messages of the existing queue `queue`, in place, like
    /// `updateQueue(_:_:)` on its slot.
    @discardableResult
    mutating func updateQueue<Result>(_ queue: Key, _ body: (inout QueueValue) -> Result) -> Result {
        guard let result = updateQueueIfPresent(queue, body) else {
            preconditionFailure("updating a queue that is not there")
        }
        return result
    }

    /// The messages of the queue at `key` (expired or not); `nil` when `key` holds none. A
    /// function, so that the copy it returns is gone before the queue next changes: a copy
    /// alive then would make the change copy the whole queue.
    func queueValue(_ key: Key) -> QueueValue? {
        guard let index = entries.index(of: key, hash: EntryTable.hash(key)),
            case .queue(let record) = entries[index]
        else { return nil }
        return record.value
    }

    /// Runs `body` like `updateQueue(_:_:)` when `queue` holds a queue; `nil` otherwise. One
    /// lookup of the key.
    mutating func updateQueueIfPresent<Result>(_ queue: Key, _ body: (inout QueueValue) -> Result) -> Result?
    {
        guard let index = entries.index(of: queue, hash: EntryTable.hash(queue)),
            entries[index].type == .queue
        else { return nil }
        return updateQueue(index, body)
    }

    /// Counts an access to the key in slot `index` for the eviction policy.
    mutating func touch(_ index: UInt32, now: Timestamp) {
        entries.setMeta(memory.touched(entries.meta(index), now: now), at: index)
    }

    /// Checks that entries, order, deadlines, waiters and the memory count agree; for tests. O(n).
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
        let values = entries.values
        guard values.count(where: { $0.type == .queue }) == queueCount else { return false }
        guard messageTimersAreConsistent else { return false }
        guard values.reduce(memory.sketchBytes, { $0 + Self.cost(of: $1) }) == memory.used else {
            return false
        }
        let withDeadline = values.filter { $0.deadline != nil }
        guard withDeadline.count == deadlines.count else { return false }
        var ordered = 0
        var previous: [UInt8]?
        var isSorted = true
        order.forEach(from: [], strictly: false, in: entries) { index in
            let key = entries[index].key.bytes
            if let previous, ByteOrder.compare(previous, key) >= 0 {
                isSorted = false
            }
            previous = key
            ordered += 1
            return true
        }
        guard isSorted, ordered == entries.count else { return false }
        return withDeadline.allSatisfy { stored in
            stored.expiry.map { deadlines.deadline(of: $0) == stored.deadline } ?? false
        }
    }

    /// Whether every leased and delayed message has its timer, at its deadline, and the counts
    /// add up. O(messages).
    private var messageTimersAreConsistent: Bool {
        guard messageTimers.isConsistent else { return false }
        var counts = MessageCounts()
        var timers = 0
        for stored in entries.values {
            guard case .queue(let record) = stored else { continue }
            let queue = record.value
            guard queue.count > 0, queue.isAccountedFor else { return false }
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

    /// Moves the key in slot `index` from its place in the expiry index (`expiry`) to
    /// `deadline`; returns its new handle.
    private mutating func moveDeadline(
        _ index: UInt32, from expiry: ExpiryIndex.Handle?, to deadline: Timestamp?
    )
        -> ExpiryIndex.Handle?
    {
        switch (expiry, deadline) {
        case (nil, nil):
            return nil
        case (let expiry?, nil):
            deadlines.remove(expiry)
            return nil
        case (nil, let deadline?):
            return deadlines.insert(index, deadline: deadline)
        case (let expiry?, let deadline?):
            deadlines.update(expiry, deadline: deadline)
            return expiry
        }
    }
}
