/// What a pop found.
package enum PopOutcome: Sendable {
    /// A message, taken from its queue.
    case popped(PoppedMessage)
    /// Every queue was empty, and no consumer was registered.
    case empty
    /// Every queue was empty; the consumer now waits on each of them.
    case waiting
    /// A message was there, but the consumer could no longer take it (it timed out or left).
    case gone
}
