/// What a consumer takes from a queue: a message for good, messages on a lease, or a message
/// moved to another queue. Waiting consumers of every kind share one first-come, first-served
/// line per queue.
package enum Consumption: Sendable, Equatable {
    /// The oldest visible message leaves its queue for the consumer: at most once.
    case pop
    /// Up to `limit` of the oldest visible messages stay in their queue, invisible, until
    /// acknowledged or until `visibility` has passed (`nil`: the queue's policy); then they
    /// are visible again at their place in line.
    case receive(visibility: Duration?, limit: Int)
    /// The oldest visible message leaves its queue for the tail of `destination`, in one step
    /// (Redis's `LMOVE`), and the consumer learns which message it was.
    case move(to: Key)
}

extension Consumption {
    /// Checks what the consumption itself says, taking from `queues`: a receive's count and
    /// visibility within bounds, a move's destination none of its sources.
    package func validate(from queues: [Key]) throws(KeyspaceError) {
        switch self {
        case .pop:
            break
        case .receive(let visibility, let count):
            guard QueueLimits.receiveLimits.contains(count) else {
                throw .invalidArgument(
                    "A receive takes \(QueueLimits.receiveLimits.lowerBound) to "
                        + "\(QueueLimits.receiveLimits.upperBound) messages.")
            }
            if let visibility {
                try QueueLimits.validateVisibility(visibility)
            }
        case .move(let destination):
            guard !queues.contains(destination) else {
                throw .invalidArgument("A message cannot be moved to the queue it is taken from.")
            }
        }
    }
}
