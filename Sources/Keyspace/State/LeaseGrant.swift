/// One lease given out: its message (its attempts counting this lease), number and deadline.
struct LeaseGrant: Sendable, Equatable {
    /// The message.
    let message: QueueMessage
    /// The lease's number, which its receipt names.
    let number: UInt64
    /// When it ends.
    let deadline: Timestamp
}
