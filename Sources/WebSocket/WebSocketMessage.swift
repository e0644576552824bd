/// A complete message or control frame, as the decoder delivers it.
package enum WebSocketMessage: Sendable, Equatable {
    /// A text message, reassembled and checked to be UTF-8.
    case text(String)
    /// A binary message, reassembled.
    case binary([UInt8])
    /// A ping, with its application data.
    case ping([UInt8])
    /// A pong, with its application data.
    case pong([UInt8])
    /// A close frame, with its code (absent when the frame has no body) and reason.
    case close(CloseCode?, String)
}
