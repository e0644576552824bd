/// What a consumption found.
package enum ConsumeOutcome: Sendable {
    /// Messages, taken (popped, leased or moved) for the consumer.
    case delivered(Handover)
    /// No queue had a visible message, and no consumer was registered.
    case empty
    /// No queue had a visible message; the consumer now waits on each of them.
    case waiting
    /// A message was there, but the consumer could no longer take it (it timed out or left).
    case gone
}
