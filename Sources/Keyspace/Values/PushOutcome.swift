/// What a push did with its message.
package enum PushOutcome: Sendable, Equatable {
    /// The message is stored (visible, or delayed); the queue now holds `length` messages.
    case stored(length: Int)
    /// The message went to the oldest waiting consumer (leased in the queue, for a receive), or
    /// to the queue a waiting move sent it to; the queue now holds `length` messages.
    case handed(length: Int)

    /// The number of messages the queue holds after the push.
    package var length: Int {
        switch self {
        case .stored(let length), .handed(let length): length
        }
    }
}
