extension KeyspaceState {
    /// The entry of `key` unless absent or expired; an expired one is removed on the way,
    /// O(log n).
    mutating func liveEntry(_ key: Key, now: Timestamp) -> Entry? {
        guard let entry = entries[key] else { return nil }
        guard let deadline = entry.deadline, deadline <= now else { return entry }
        expire(key, deadline: deadline, now: now)
        return nil
    }

    /// Deletes `key` if it holds a value of `type`; `false` when absent. O(log n).
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
