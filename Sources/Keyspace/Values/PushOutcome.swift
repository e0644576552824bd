/// What a push did with its message.
package enum PushOutcome: Sendable {
    /// The message is stored; the queue now holds `length` messages.
    case stored(length: Int)
    /// The oldest waiting consumer was claimed for the message: the caller delivers it, and
    /// gives it back (`giveBack(_:to:)`) if the consumer turns out to be gone.
    case handed(to: any MessageReceiver)
}
