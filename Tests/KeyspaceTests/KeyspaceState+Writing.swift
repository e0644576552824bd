@testable import Keyspace

extension KeyspaceState {
    /// Writes like the engine: the record made first, then the write.
    mutating func write(
        _ value: Payload, forKey key: Key, deadline: Timestamp?, condition: WriteCondition, now: Timestamp
    ) throws(KeyspaceError) -> WriteOutcome {
        try write(
            value, record: StringRecord.make(key: key, value: value), forKey: key, deadline: deadline,
            condition: condition, now: now)
    }
}

extension EntryTable {
    /// Stores an empty string at `key`, which is absent; returns its slot.
    mutating func insert(_ key: Key) -> UInt32 {
        insert(.string(StringRecord.make(key: key, value: Payload(bytes: []))), hash: Self.hash(key), meta: 0)
    }
}
