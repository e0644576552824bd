extension KeyspaceState {
    /// The string record of `key` unless absent or expired, counted as an access by the
    /// eviction policy; throws when the key holds a queue. O(1) on average.
    mutating func read(_ key: Key, now: Timestamp) throws(KeyspaceError) -> StringRecord? {
        let hash = EntryTable.hash(key)
        if memory.isTracking {
            memory.noteRead(hash)
        }
        guard let entry = liveEntry(key, hash: hash, now: now) else { return nil }
        guard case .string(let record) = entries[entry.index] else {
            throw .wrongType(key: key, actual: .queue)
        }
        if memory.isTracking {
            touch(entry.index, now: now)
        }
        return record
    }

    /// Writes a string value, `stored` holding it (made from `value` outside the lock),
    /// replacing a string; `deadline` `nil` makes the key persistent. Under a memory limit,
    /// evicts to make room first, or refuses. O(log n) when the key is new or its deadline
    /// moves.
    mutating func write(
        _ value: Payload, record stored: StringRecord, forKey key: Key, deadline: Timestamp?,
        condition: WriteCondition, now: Timestamp
    ) throws(KeyspaceError) -> WriteOutcome {
        let hash = EntryTable.hash(key)
        let current = liveEntry(key, hash: hash, now: now)
        // The type first: a condition on a key of another type is not the question asked.
        if let current, current.type != .string {
            throw .wrongType(key: key, actual: current.type)
        }
        guard condition.isSatisfied(byCurrent: current?.version) else {
            throw .conditionFailed(key: key)
        }
        var admission = Admission.admitted
        if memory.limit != nil {
            let cost =
                stored.allocatedBytes + MemoryCost.keyIndex + (deadline == nil ? 0 : MemoryCost.deadline)
            let freed = current.map { Self.cost(of: entries[$0.index]) } ?? 0
            admission = try makeRoom(
                for: cost - freed, newKeyHash: current == nil ? hash : nil, keeping: current?.index, now: now)
        }
        let version = nextVersion()
        stored.header.version = version.rawValue
        stored.header.deadline = deadline?.milliseconds ?? .max
        record(.set(key: key, value: value, version: version, deadline: deadline))
        guard let current else {
            if admission == .rejected {
                // Written and evicted at once: the sketch says it is read less than any key
                // it would push out.
                record(.evict(key: key))
                memory.evicted += 1
            } else {
                insert(.string(stored), hash: hash, now: now)
            }
            return .created(version)
        }
        replace(current.index, with: stored, deadline: deadline)
        if memory.isTracking {
            touch(current.index, now: now)
        }
        return .replaced(version)
    }
}
