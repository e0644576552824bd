package import Keyspace

/// What an operation needs its caller to be granted.
package enum Requirement: Sendable {
    /// `action` on this key or queue.
    case on(AccessAction, Key)
    /// `action` on every one of these queues (a pop from several needs `pop` on each).
    case onEvery(AccessAction, [Key])
    /// `action` on some key at least, the output then restricted to what is granted (a listing,
    /// a subscription); `admin` for `/metrics`.
    case some(AccessAction)
    /// Every one of these (a move needs `pop` on its source and `push` on its destination).
    case all([Requirement])
}
