/// One lease as the built-in engine knows it: the message's number and the lease's.
struct LeaseReference: Sendable, Equatable, Hashable {
    /// The message's number.
    let message: UInt64
    /// The lease's number, new on every delivery.
    let lease: UInt64
}
