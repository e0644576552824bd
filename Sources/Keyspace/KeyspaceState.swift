/// Everything the engine holds, mutated only under the engine's lock.
///
/// The three structures stay in step: every key is in `entries` and `order`; a key with a
/// deadline is also in `deadlines`, under the handle its entry keeps.
struct KeyspaceState {
    private var entries: [Key: Entry] = [:]
    private var order = SortedKeyIndex()
    private var deadlines = DeadlineHeap()
    private var lastVersion: UInt64 = 0
    /// The deadline the expirer sleeps until; `nil` when it has nothing to wait for.
    private var expirerWakeup: Timestamp?
    /// Set when a deadline earlier than `expirerWakeup` appears; the engine wakes the expirer.
    private var isExpirerWakeNeeded = false

    /// The number of keys, expired ones not yet removed included.
    var count: Int { entries.count }

    /// The number of keys with a deadline.
    var volatileCount: Int { deadlines.count }

    /// The entry of `key` unless absent or expired; an expired one is removed on the way.
    mutating func liveEntry(_ key: Key, now: Timestamp) -> Entry? {
        guard let entry = entries[key] else { return nil }
        guard !entry.isExpired(at: now) else {
            remove(key)
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
        guard condition.isSatisfied(byCurrent: current?.version) else {
            throw .conditionFailed(key: key)
        }
        if let current, current.value.type != value.type {
            throw .wrongType(key: key, actual: current.value.type)
        }
        lastVersion += 1
        let version = Version(lastVersion)
        guard var entry = current else {
            let expiry = deadline.map { insertDeadline($0, for: key) }
            entries[key] = Entry(value: value, version: version, deadline: deadline, expiry: expiry)
            order.insert(key)
            return .created(version)
        }
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
        guard condition.isSatisfied(byCurrent: current?.version) else {
            throw .conditionFailed(key: key)
        }
        guard let current else { return false }
        guard current.value.type == type else {
            throw .wrongType(key: key, actual: current.value.type)
        }
        remove(key)
        return true
    }

    /// Sets or clears the deadline of `key`; `false` when absent.
    mutating func setDeadline(_ deadline: Timestamp?, forKey key: Key, now: Timestamp) -> Bool {
        guard var entry = liveEntry(key, now: now) else { return false }
        moveDeadline(of: &entry, to: deadline, key: key)
        entries[key] = entry
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
                        size: entry.value.size))
            }
            return true
        }
        return KeyPage(keys: keys, cursor: hasMore ? lastSeen : nil)
    }

    /// Removes up to `limit` keys whose deadline is at or before `now`, earliest first.
    ///
    /// O(limit × log n). Records the next deadline as the one the expirer will sleep until.
    mutating func expireDue(now: Timestamp, limit: Int) -> ExpiryPass {
        var expired: [Key] = []
        while expired.count < limit, let (deadline, key) = deadlines.first, deadline <= now {
            remove(key)
            expired.append(key)
        }
        let next = deadlines.first?.deadline
        expirerWakeup = next
        let hasMoreDue = next.map { $0 <= now } ?? false
        return ExpiryPass(expired: expired, nextDeadline: next, hasMoreDue: hasMoreDue)
    }

    /// Whether the expirer must be woken for a new earlier deadline; resets the request.
    mutating func takeExpirerWakeRequest() -> Bool {
        defer { isExpirerWakeNeeded = false }
        return isExpirerWakeNeeded
    }

    /// Checks that entries, order and deadlines agree; for tests. O(n).
    var isConsistent: Bool {
        guard deadlines.isConsistent, order.count == entries.count else { return false }
        let withDeadline = entries.values.filter { $0.deadline != nil }
        guard withDeadline.count == deadlines.count else { return false }
        return withDeadline.allSatisfy { entry in
            entry.expiry.map { deadlines.deadline(of: $0) == entry.deadline } ?? false
        }
    }

    private mutating func remove(_ key: Key) {
        guard let entry = entries.removeValue(forKey: key) else { return }
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

    private mutating func insertDeadline(_ deadline: Timestamp, for key: Key) -> DeadlineHeap.Handle {
        noteDeadline(deadline)
        return deadlines.insert(key, deadline: deadline)
    }

    private mutating func noteDeadline(_ deadline: Timestamp) {
        if let wakeup = expirerWakeup, wakeup <= deadline { return }
        expirerWakeup = deadline
        isExpirerWakeNeeded = true
    }
}
