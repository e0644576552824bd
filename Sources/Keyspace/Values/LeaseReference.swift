/// One lease as an engine knows it: the message's number and the lease's.
package struct LeaseReference: Sendable, Equatable, Hashable {
    /// The message's number.
    package let message: UInt64
    /// The lease's number, new on every delivery.
    package let lease: UInt64

    /// Names lease `lease` of message `message`.
    package init(message: UInt64, lease: UInt64) {
        self.message = message
        self.lease = lease
    }
}
