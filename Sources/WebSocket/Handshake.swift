import Crypto
import FoundationEssentials

/// The opening handshake (RFC 6455, section 4.2): checking a client's upgrade request and
/// computing the `Sec-WebSocket-Accept` that proves the server understood it.
package enum Handshake {
    /// Why an upgrade request is refused.
    package enum Failure: Error, Sendable, Equatable {
        /// Not a WebSocket upgrade (`Upgrade` or `Connection` missing or wrong); the detail says which.
        case notAnUpgrade(String)
        /// A version other than 13: answer 426 with `Sec-WebSocket-Version: 13`.
        case unsupportedVersion
        /// `Sec-WebSocket-Key` missing or not the base64 of 16 bytes.
        case invalidKey
    }

    /// The only protocol version there is.
    package static let version = "13"

    private static let magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Checks the headers of an upgrade request; returns the `Sec-WebSocket-Accept` value.
    package static func accept(
        upgrade: String?, connection: String?, version: String?, key: String?
    ) throws(Failure) -> String {
        guard let upgrade, tokens(upgrade).contains("websocket") else {
            throw .notAnUpgrade("The request must carry 'Upgrade: websocket'.")
        }
        guard let connection, tokens(connection).contains("upgrade") else {
            throw .notAnUpgrade("The request must carry 'Connection: Upgrade'.")
        }
        guard version.map(trimmed) == Self.version else {
            throw .unsupportedVersion
        }
        guard let key = key.map(trimmed),
            let decoded = Data(base64Encoded: key), decoded.count == 16
        else {
            throw .invalidKey
        }
        return acceptValue(forKey: key)
    }

    /// `Sec-WebSocket-Accept` for a key: base64 of the SHA-1 of the key and the RFC's GUID.
    package static func acceptValue(forKey key: String) -> String {
        Data(Insecure.SHA1.hash(data: Data((key + magic).utf8))).base64EncodedString()
    }

    /// The comma-separated tokens of a header value, lowercased.
    private static func tokens(_ value: String) -> [String] {
        value.split(separator: ",").map { trimmed($0).lowercased() }
    }

    /// `text` without the spaces and tabs HTTP allows around a header value or list element.
    private static func trimmed(_ text: some StringProtocol) -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isBlank($0) }),
            let last = text.lastIndex(where: { !isBlank($0) })
        else { return "" }
        return String(text[first...last])
    }
}
