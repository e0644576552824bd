import Testing

@testable import WebSocket

@Suite("Frame decoder")
struct FrameDecoderTests {
    private static let maskingKey: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

    /// A masked frame, as a client sends it.
    private static func clientFrame(
        _ opcode: Opcode, _ payload: [UInt8], isFinal: Bool = true
    ) -> [UInt8] {
        FrameEncoder.frame(
            opcode: opcode.rawValue, payload: payload, isFinal: isFinal, maskingKey: maskingKey)
    }

    private static func decodeAll(_ bytes: [UInt8], limit: Int = 1 << 20) throws(WebSocketError)
        -> [WebSocketMessage]
    {
        var decoder = FrameDecoder(maxMessageBytes: limit)
        decoder.feed(bytes)
        var messages: [WebSocketMessage] = []
        while let message = try decoder.next() {
            messages.append(message)
        }
        return messages
    }

    private static func closeCode(for bytes: [UInt8], limit: Int = 1 << 20) -> CloseCode? {
        do {
            _ = try decodeAll(bytes, limit: limit)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func decodesTheMaskedHelloOfRFC6455() throws {
        // RFC 6455, section 5.7: a single-frame masked text message containing "Hello".
        let frame: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        #expect(try Self.decodeAll(frame) == [.text("Hello")])
    }

    @Test func reassemblesAFragmentedMessageAroundAPing() throws {
        let bytes =
            Self.clientFrame(.text, Array("Hel".utf8), isFinal: false)
            + Self.clientFrame(.ping, [1, 2])
            + Self.clientFrame(.continuation, Array("lo".utf8))
        #expect(try Self.decodeAll(bytes) == [.ping([1, 2]), .text("Hello")])
    }

    @Test func waitsForBytesFedOneAtATime() throws {
        let payload = [UInt8](repeating: 0x61, count: 70_000)
        let bytes = Self.clientFrame(.text, payload) + Self.clientFrame(.binary, [9])
        var decoder = FrameDecoder(maxMessageBytes: 1 << 20)
        var messages: [WebSocketMessage] = []
        for byte in bytes {
            decoder.feed([byte])
            while let message = try decoder.next() {
                messages.append(message)
            }
        }
        #expect(messages == [.text(String(repeating: "a", count: 70_000)), .binary([9])])
    }

    @Test(arguments: [0, 125, 126, 65_535, 65_536])
    func decodesEveryLengthForm(length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
        #expect(try Self.decodeAll(Self.clientFrame(.binary, payload)) == [.binary(payload)])
    }

    @Test(arguments: 0...20)
    func unmasksPayloadsOfEveryLengthAroundAWord(length: Int) throws {
        let text = String((0..<length).map { Character(UnicodeScalar(UInt8(0x41 + $0))) })
        #expect(try Self.decodeAll(Self.clientFrame(.text, Array(text.utf8))) == [.text(text)])
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: 0xF0 + $0) }
        #expect(try Self.decodeAll(Self.clientFrame(.binary, payload)) == [.binary(payload)])
    }

    @Test func saysWhyASingleFrameIsNotText() {
        #expect(throws: WebSocketError(.invalidPayload, "A text message is not UTF-8.")) {
            try Self.decodeAll(Self.clientFrame(.text, Array("ab".utf8) + [0xFF]))
        }
        #expect(throws: WebSocketError(.invalidPayload, "A text message ends inside a character.")) {
            try Self.decodeAll(Self.clientFrame(.text, Array("ab".utf8) + [0xE2, 0x82]))
        }
    }

    @Test func splitsACharacterAcrossFragmentsWithoutComplaint() throws {
        let euro = Array("€".utf8)
        let bytes =
            Self.clientFrame(.text, [euro[0]], isFinal: false)
            + Self.clientFrame(.continuation, Array(euro[1...]))
        #expect(try Self.decodeAll(bytes) == [.text("€")])
    }

    @Test func decodesCloseFrames() throws {
        #expect(try Self.decodeAll(Self.clientFrame(.close, [])) == [.close(nil, "")])
        let body: [UInt8] = [0x03, 0xE8] + Array("bye".utf8)
        #expect(try Self.decodeAll(Self.clientFrame(.close, body)) == [.close(.normal, "bye")])
    }

    /// A frame the protocol forbids, and the close code it earns.
    struct Violation: CustomTestStringConvertible, Sendable {
        let testDescription: String
        let bytes: [UInt8]
        let code: CloseCode
        var limit = 1 << 20
    }

    static let violations: [Violation] = [
        Violation(
            testDescription: "an unmasked frame",
            bytes: FrameEncoder.frame(opcode: 1, payload: Array("hi".utf8)), code: .protocolError),
        Violation(
            testDescription: "a reserved bit",
            bytes: FrameEncoder.frame(opcode: 1, payload: [], reservedBits: 4, maskingKey: maskingKey),
            code: .protocolError),
        Violation(
            testDescription: "an unknown opcode",
            bytes: FrameEncoder.frame(opcode: 3, payload: [], maskingKey: maskingKey), code: .protocolError),
        Violation(
            testDescription: "a continuation of nothing",
            bytes: clientFrame(.continuation, [0x61]), code: .protocolError),
        Violation(
            testDescription: "a new message inside a fragmented one",
            bytes: clientFrame(.text, [0x61], isFinal: false) + clientFrame(.text, [0x62]),
            code: .protocolError),
        Violation(
            testDescription: "a fragmented ping",
            bytes: clientFrame(.ping, [], isFinal: false), code: .protocolError),
        Violation(
            testDescription: "a 126-byte ping",
            bytes: clientFrame(.ping, [UInt8](repeating: 0, count: 126)), code: .protocolError),
        Violation(
            testDescription: "a length not in its shortest form",
            bytes: [0x81, 0xFE, 0x00, 0x05] + maskingKey + [UInt8](repeating: 0, count: 5),
            code: .protocolError),
        Violation(
            testDescription: "a close frame with a one-byte body",
            bytes: clientFrame(.close, [0x03]), code: .protocolError),
        Violation(
            testDescription: "a close code 1005, which is never sent",
            bytes: clientFrame(.close, [0x03, 0xED]), code: .protocolError),
        Violation(
            testDescription: "text that is not UTF-8",
            bytes: clientFrame(.text, [0x61, 0xFF]), code: .invalidPayload),
        Violation(
            testDescription: "an encoded surrogate",
            bytes: clientFrame(.text, [0xED, 0xA0, 0x80]), code: .invalidPayload),
        Violation(
            testDescription: "an overlong encoding",
            bytes: clientFrame(.text, [0xC0, 0xAF]), code: .invalidPayload),
        Violation(
            testDescription: "text ending inside a character",
            bytes: clientFrame(.text, [0xE2, 0x82]), code: .invalidPayload),
        Violation(
            testDescription: "a close reason that is not UTF-8",
            bytes: clientFrame(.close, [0x03, 0xE8, 0xFF]), code: .invalidPayload),
        Violation(
            testDescription: "a message over the limit",
            bytes: clientFrame(.text, [UInt8](repeating: 0x61, count: 11)), code: .messageTooBig, limit: 10),
        Violation(
            testDescription: "fragments adding up over the limit",
            bytes: clientFrame(.text, [UInt8](repeating: 0x61, count: 6), isFinal: false)
                + clientFrame(.continuation, [UInt8](repeating: 0x61, count: 6)),
            code: .messageTooBig, limit: 10),
    ]

    @Test(arguments: violations)
    func refuses(_ violation: Violation) {
        #expect(Self.closeCode(for: violation.bytes, limit: violation.limit) == violation.code)
    }

    @Test func refusesAnOversizedMessageFromItsHeaderAlone() {
        // Only the header of a 2^40-byte frame: the decoder must not wait for the payload.
        let header: [UInt8] = [0x82, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0] + Self.maskingKey
        #expect(Self.closeCode(for: header) == .messageTooBig)
    }
}
