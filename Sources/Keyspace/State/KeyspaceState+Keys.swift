extension KeyspaceState {
    /// The key `key` unless absent or expired; an expired one is removed on the way,
    /// O(log n).
    mutating func liveEntry(_ key: Key, now: Timestamp) -> Located? {
        liveEntry(key, hash: EntryTable.hash(key), now: now)
    }

    /// The key `key`, whose hash is `hash`, unless absent or expired; an expired one is removed
    /// on the way, O(log n).
    mutating func liveEntry(_ key: Key, hash: UInt32, now: Timestamp) -> Located? {
        guard let entry = find(key, hash: hash) else { return nil }
        guard let deadline = entry.deadline, deadline <= now else { return entry }
        expire(entry.index, key: key, deadline: deadline, now: now)
        return nil
    }

    /// Deletes `key` if it holds a value of `type`; `false` when absent. O(log n).
    mutating func delete(
        _ key: Key, ofType type: KeyType, condition: WriteCondition, now: Timestamp
    ) throws(KeyspaceError) -> Bool {
        let current = liveEntry(key, now: now)
        if let current, current.type != type {
            throw .wrongType(key: key, actual: current.type)
        }
        guard condition.isSatisfied(byCurrent: current?.version) else {
            throw .conditionFailed(key: key)
        }
        guard let current else { return false }
        remove(current.index)
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
        order.forEach(from: start, strictly: strictly, in: entries) { index in
            let stored = entries[index]
            let isMatch = stored.withKeyBytes { key in
                key.count >= prefix.count
                    && prefix.withUnsafeBytes {
                        ByteOrder.equal(UnsafeRawBufferPointer(rebasing: key[..<prefix.count]), $0)
                    }
            }
            guard isMatch else { return false }
            guard keys.count < limit, budget > 0 else {
                hasMore = true
                return false
            }
            budget -= 1
            let key = stored.key
            lastSeen = key
            if !stored.isExpired(at: now) {
                keys.append(
                    KeyInfo(
                        key: key, type: stored.type, timeToLive: stored.timeToLive(at: now),
                        bytes: stored.bytes, length: stored.length))
            }
            return true
        }
        return KeyPage(keys: keys, cursor: hasMore ? lastSeen : nil)
    }
}
