/// What the keyspace holds for one key.
struct Entry {
    /// The typed value.
    enum Value {
        case string(StringValue)

        var type: KeyType {
            switch self {
            case .string: .string
            }
        }

        /// Bytes for a string.
        var size: Int {
            switch self {
            case .string(let string): string.bytes.count
            }
        }
    }

    var value: Value
    var version: Version
    /// When the key expires; `nil` for a persistent key.
    var deadline: Timestamp?
    /// The key's place in the expiry index, present exactly when `deadline` is.
    var expiry: DeadlineHeap.Handle?

    /// Whether the key is past its deadline at `now`.
    func isExpired(at now: Timestamp) -> Bool {
        guard let deadline else { return false }
        return deadline <= now
    }

    /// The time left at `now`.
    func timeToLive(at now: Timestamp) -> TimeToLive {
        guard let deadline else { return .persistent }
        return .remaining(deadline - now)
    }
}
