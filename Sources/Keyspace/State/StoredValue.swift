import Plumbing

/// What the keyspace holds for one key: a string's record or a queue's, one reference either way.
enum StoredValue {
    case string(StringRecord)
    case queue(QueueRecord)

    /// The key's type.
    var type: KeyType {
        switch self {
        case .string: .string
        case .queue: .queue
        }
    }

    /// The version of the value.
    var version: Version {
        switch self {
        case .string(let record): Version(record.header.version)
        case .queue(let record): Version(record.version)
        }
    }

    /// The deadline in Unix milliseconds, `Int64.max` for a persistent key.
    var rawDeadline: Int64 {
        switch self {
        case .string(let record): record.header.deadline
        case .queue(let record): record.deadline
        }
    }

    /// When the key expires; `nil` for a persistent key.
    var deadline: Timestamp? {
        let raw = rawDeadline
        return raw == .max ? nil : Timestamp(milliseconds: raw)
    }

    /// The key's place in the expiry index, present exactly when `deadline` is.
    var expiry: ExpiryIndex.Handle? {
        let slot =
            switch self {
            case .string(let record): record.header.expirySlot
            case .queue(let record): record.expirySlot
            }
        return slot < 0 ? nil : ExpiryIndex.Handle(rawValue: slot)
    }

    /// The bytes the value holds: a string's, or all of a queue's messages together.
    var bytes: Int {
        switch self {
        case .string(let record): record.valueCount
        case .queue(let record): record.value.bytes
        }
    }

    /// The number of messages of a queue; `nil` for a string.
    var length: Int? {
        switch self {
        case .string: nil
        case .queue(let record): record.value.count
        }
    }

    /// The heap bytes of the record, as `MemoryCost` counts them.
    var allocatedBytes: Int {
        switch self {
        case .string(let record): record.allocatedBytes
        case .queue(let record): record.allocatedBytes
        }
    }

    /// The key.
    var key: Key {
        switch self {
        case .string(let record): record.key
        case .queue(let record): record.key
        }
    }

    /// Calls `body` with the key's bytes.
    func withKeyBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        switch self {
        case .string(let record): record.withKeyBytes(body)
        case .queue(let record): record.key.bytes.withUnsafeBytes(body)
        }
    }

    /// Whether the key is past its deadline at `now`.
    func isExpired(at now: Timestamp) -> Bool {
        rawDeadline <= now.milliseconds
    }

    /// The time left at `now`.
    func timeToLive(at now: Timestamp) -> TimeToLive {
        guard let deadline else { return .persistent }
        return .remaining(deadline - now)
    }

    /// The same value with a new deadline and expiry handle; the record is copied first when
    /// another holder (a snapshot being written) shares it.
    consuming func settingDeadline(_ deadline: Timestamp?, expiry: ExpiryIndex.Handle?) -> StoredValue {
        let raw = deadline?.milliseconds ?? .max
        let slot = expiry?.rawValue ?? -1
        switch consume self {
        case .string(var record):
            if !isKnownUniquelyReferenced(&record) {
                record = record.copy()
            }
            record.header.deadline = raw
            record.header.expirySlot = slot
            return .string(record)
        case .queue(var record):
            if !isKnownUniquelyReferenced(&record) {
                record = record.copy()
            }
            record.deadline = raw
            record.expirySlot = slot
            return .queue(record)
        }
    }
}
