/// Why a WebSocket connection must be closed, or its handshake refused.
package struct WebSocketError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The code to close with.
    package var code: CloseCode
    /// What went wrong, sent as the close reason (kept under the 123 bytes a close frame allows).
    package var reason: String

    /// Creates an error.
    package init(_ code: CloseCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The code and reason.
    package var description: String { "\(code): \(reason)" }
}
