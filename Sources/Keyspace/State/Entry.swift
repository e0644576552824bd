import Plumbing

/// What the keyspace holds for one key.
struct Entry {
    /// The typed value.
    enum Value {
        case string(Payload)
        case queue(QueueValue)

        var type: KeyType {
            switch self {
            case .string: .string
            case .queue: .queue
            }
        }

        /// The bytes the value holds: a string's, or all of a queue's messages together.
        var bytes: Int {
            switch self {
            case .string(let string): string.bytes.count
            case .queue(let queue): queue.bytes
            }
        }

        /// The number of messages of a queue; `nil` for a string.
        var length: Int? {
            switch self {
            case .string: nil
            case .queue(let queue): queue.count
            }
        }
    }

    var value: Value
    var version: Version
    /// When the key expires; `nil` for a persistent key.
    var deadline: Timestamp?
    /// The key's place in the expiry index, present exactly when `deadline` is.
    var expiry: ExpiryIndex.Handle?

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
