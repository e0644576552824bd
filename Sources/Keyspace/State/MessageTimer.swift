import Plumbing

/// A moment when a message becomes visible: its lease ends, or its delay does.
struct MessageTimer: Equatable, Sendable {
    /// The queue holding the message.
    let queue: Key
    /// The message's id.
    let id: UInt64
}

/// The leases and delays of every queue by deadline, earliest first, each with a stable handle
/// kept by its message, so that a message acknowledged, extended or removed leaves at once.
typealias MessageTimers = DeadlineHeap<Timestamp, MessageTimer>
