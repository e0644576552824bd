/// What a consumer gets: the output of a `Consumption`, at once or handed to it while it waits.
package enum Handover: Sendable {
    /// A message taken from its queue, by a pop.
    case popped(PoppedMessage)
    /// Messages leased from `queue`, by a receive; never empty.
    case received(queue: Key, messages: [LeasedMessage])
    /// A message taken from its queue and appended to `destination`, by a move.
    case moved(PoppedMessage, to: Key)
    /// A waiting consumer that cannot be served: a move whose destination came to hold a string.
    case failed(KeyspaceError)
}
