/// A message received on a lease: it stays in its queue, invisible, until acknowledged with
/// `receipt` or until `visibleUntil`.
package struct LeasedMessage: Sendable, Equatable {
    /// The message, its `attempts` counting this delivery.
    package var queued: QueuedMessage
    /// What acknowledges, extends or releases this delivery, and only this one: opaque, and
    /// new on every delivery.
    package var receipt: String
    /// When the lease ends, unless extended: the message is then visible again.
    package var visibleUntil: Timestamp
    /// The engine's own reference to the lease, for giving it back undelivered.
    let lease: LeaseReference?

    /// Creates a leased message.
    package init(queued: QueuedMessage, receipt: String, visibleUntil: Timestamp) {
        self.init(queued: queued, receipt: receipt, visibleUntil: visibleUntil, lease: nil)
    }

    init(queued: QueuedMessage, receipt: String, visibleUntil: Timestamp, lease: LeaseReference?) {
        self.queued = queued
        self.receipt = receipt
        self.visibleUntil = visibleUntil
        self.lease = lease
    }
}
