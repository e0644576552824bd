extension KeyspaceState {
    /// Writes a string value, replacing a string; `deadline` `nil` makes the key persistent.
    /// O(log n) when the key is new or its deadline moves.
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
