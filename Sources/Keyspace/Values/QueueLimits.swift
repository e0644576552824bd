/// The bounds of what a client may ask of a queue's leases, delays and policy.
package enum QueueLimits {
    /// How long a received message stays invisible when neither the receive nor the queue's
    /// policy says: 30 s, as SQS.
    package static let defaultVisibility = Duration.seconds(30)
    /// The longest lease: 12 hours, as SQS.
    package static let maximumVisibility = Duration.seconds(43_200)
    /// The longest delay of a message: 30 days, so that a queue can hold scheduled work (SQS
    /// stops at 15 minutes).
    package static let maximumDelay = Duration.seconds(2_592_000)
    /// How many messages one receive may take.
    package static let receiveLimits = 1...100
    /// How many receives a policy may allow before a message is dead-lettered.
    package static let maxReceivesLimits = 1...1000
    /// How many receipts one batch acknowledgement may carry.
    package static let acknowledgeLimits = 1...1000

    /// Checks a visibility timeout: positive (or zero when `allowsZero`, a release) and at most
    /// `maximumVisibility`.
    package static func validateVisibility(_ visibility: Duration, allowsZero: Bool = false)
        throws(KeyspaceError)
    {
        guard visibility > .zero || (allowsZero && visibility == .zero) else {
            throw .invalidArgument(
                allowsZero
                    ? "A visibility timeout cannot be negative." : "A visibility timeout must be positive.")
        }
        guard visibility <= maximumVisibility else {
            throw .invalidArgument(
                "A visibility timeout is at most \(maximumVisibility.components.seconds) seconds.")
        }
    }

    /// Checks a delay: at least zero and at most `maximumDelay`.
    package static func validateDelay(_ delay: Duration) throws(KeyspaceError) {
        guard delay >= .zero else { throw .invalidArgument("A delay cannot be negative.") }
        guard delay <= maximumDelay else {
            throw .invalidArgument("A delay is at most \(maximumDelay.components.seconds) seconds.")
        }
    }
}
