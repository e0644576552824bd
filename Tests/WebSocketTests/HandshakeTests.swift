import Testing

@testable import WebSocket

@Suite("Opening handshake")
struct HandshakeTests {
    @Test func computesTheAcceptValueOfRFC6455() throws {
        // RFC 6455, section 1.3.
        let accept = try Handshake.accept(
            upgrade: "websocket", connection: "Upgrade", version: "13", key: "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func readsTokenListsWhateverTheirCaseAndSpacing() throws {
        let accept = try Handshake.accept(
            upgrade: "WebSocket", connection: "keep-alive, \tUpgrade", version: " 13 ",
            key: " dGhlIHNhbXBsZSBub25jZQ== ")
        #expect(accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    /// Upgrade headers and the refusal they earn.
    struct Refusal: CustomTestStringConvertible, Sendable {
        let testDescription: String
        var upgrade: String? = "websocket"
        var connection: String? = "Upgrade"
        var version: String? = "13"
        var key: String? = "dGhlIHNhbXBsZSBub25jZQ=="
        let isExpected: @Sendable (Handshake.Failure) -> Bool
    }

    static let refusals: [Refusal] = [
        Refusal(testDescription: "no Upgrade", upgrade: nil) {
            if case .notAnUpgrade = $0 { true } else { false }
        },
        Refusal(testDescription: "Upgrade: h2c", upgrade: "h2c") {
            if case .notAnUpgrade = $0 { true } else { false }
        },
        Refusal(testDescription: "Connection: close", connection: "close") {
            if case .notAnUpgrade = $0 { true } else { false }
        },
        Refusal(testDescription: "version 8", version: "8") { $0 == .unsupportedVersion },
        Refusal(testDescription: "no version", version: nil) { $0 == .unsupportedVersion },
        Refusal(testDescription: "no key", key: nil) { $0 == .invalidKey },
        Refusal(testDescription: "a key that is not base64", key: "not base64!") { $0 == .invalidKey },
        Refusal(testDescription: "a key of 15 bytes", key: "AAAAAAAAAAAAAAAAAAAA") { $0 == .invalidKey },
    ]

    @Test(arguments: refusals)
    func refuses(_ refusal: Refusal) {
        #expect {
            try Handshake.accept(
                upgrade: refusal.upgrade, connection: refusal.connection, version: refusal.version,
                key: refusal.key)
        } throws: { error in
            (error as? Handshake.Failure).map(refusal.isExpected) ?? false
        }
    }
}
