/// A WebSocket close status code (RFC 6455, section 7.4).
///
/// An open set (applications register their own), so a struct with the codes Keygate uses as
/// static members.
package struct CloseCode: Hashable, Sendable, CustomStringConvertible {
    /// The code on the wire.
    package let rawValue: UInt16

    /// Creates a code.
    package init(_ rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// The code as a number.
    package var description: String { String(rawValue) }

    /// Whether a peer may send this code in a close frame: 1000–1003, 1007–1011, or the
    /// registered and private ranges 3000–4999. 1005, 1006 and 1015 are never sent.
    package var isSendable: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }

    /// 1000: the purpose of the connection is fulfilled.
    package static let normal = CloseCode(1000)
    /// 1001: the server is going away.
    package static let goingAway = CloseCode(1001)
    /// 1002: the peer broke the protocol.
    package static let protocolError = CloseCode(1002)
    /// 1003: a kind of data the endpoint does not accept (binary, here).
    package static let unsupportedData = CloseCode(1003)
    /// 1007: a text message that is not UTF-8.
    package static let invalidPayload = CloseCode(1007)
    /// 1008: the peer broke a policy, such as not reading what it is sent.
    package static let policyViolation = CloseCode(1008)
    /// 1009: a message larger than the endpoint accepts.
    package static let messageTooBig = CloseCode(1009)
    /// 1011: the server failed.
    package static let internalError = CloseCode(1011)
}
