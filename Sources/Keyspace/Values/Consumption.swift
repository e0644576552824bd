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
