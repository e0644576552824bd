/// How a queue treats its leases: how long a received message stays invisible by default,
/// and where a message goes once it has been received too many times.
///
/// A policy belongs to the queue's name, not to its messages: it outlives the queue being
/// empty (and its key removed) until it is reset.
package struct QueuePolicy: Sendable, Equatable {
    /// How long a received message stays invisible when the receive does not say.
    package var visibility: Duration
    /// How many leases a message may have: when the last of them ends without an
    /// acknowledgement, the message goes to the tail of `deadLetter`. `nil`: no limit.
    package var maxReceives: Int?
    /// Where a message goes after `maxReceives` leases ended unacknowledged; given exactly when
    /// `maxReceives` is.
    package var deadLetter: Key?

    /// The policy of a queue nobody configured: 30 s, no limit on receives.
    package static let standard = QueuePolicy()

    /// Creates a policy.
    package init(
        visibility: Duration = QueueLimits.defaultVisibility, maxReceives: Int? = nil, deadLetter: Key? = nil
    ) {
        self.visibility = visibility
        self.maxReceives = maxReceives
        self.deadLetter = deadLetter
    }

    /// Checks the policy for `queue`: a visibility within bounds, `maxReceives` and
    /// `deadLetter` both given or both absent, and a dead-letter queue other than `queue`.
    package func validate(for queue: Key) throws(KeyspaceError) {
        try QueueLimits.validateVisibility(visibility)
        switch (maxReceives, deadLetter) {
        case (nil, nil):
            break
        case (let limit?, let destination?):
            guard QueueLimits.maxReceivesLimits.contains(limit) else {
                throw .invalidArgument(
                    "maxReceives is \(QueueLimits.maxReceivesLimits.lowerBound) to "
                        + "\(QueueLimits.maxReceivesLimits.upperBound).")
            }
            guard destination != queue else {
                throw .invalidArgument("A queue cannot be its own dead-letter queue.")
            }
        default:
            throw .invalidArgument(
                "maxReceives and deadLetter go together: give both, or neither (null).")
        }
    }
}
