import Testing

@testable import WebSocket

@Suite("Frame encoder")
struct FrameEncoderTests {
    @Test func encodesTheUnmaskedHelloOfRFC6455() {
        #expect(FrameEncoder.text("Hello") == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    }

    @Test func encodesTheUnmaskedPingOfRFC6455() {
        #expect(FrameEncoder.ping(Array("Hello".utf8)) == [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    }

    @Test(arguments: [(125, 2), (126, 4), (65_535, 4), (65_536, 10)])
    func usesTheShortestLengthForm(length: Int, headerLength: Int) {
        let frame = FrameEncoder.frame(opcode: 2, payload: [UInt8](repeating: 7, count: length))
        #expect(frame.count == headerLength + length)
    }

    @Test(arguments: [0, 5, 125, 126, 65_535, 65_536])
    func encodesTextLikeAnyOtherFrame(byteCount: Int) {
        let text = String(repeating: "é", count: byteCount / 2) + String(repeating: "a", count: byteCount % 2)
        #expect(
            FrameEncoder.text(text)
                == FrameEncoder.frame(opcode: Opcode.text.rawValue, payload: Array(text.utf8)))
    }

    @Test(arguments: [0, 125, 126, 65_536])
    func aTextHeaderFollowedByItsPayloadIsTheTextFrame(byteCount: Int) {
        let text = String(repeating: "a", count: byteCount)
        var frames: [UInt8] = [9]
        FrameEncoder.appendTextHeader(payloadCount: byteCount, to: &frames)
        frames += text.utf8
        #expect(frames == [9] + FrameEncoder.text(text))
    }

    @Test func cutsACloseReasonWithoutSplittingACharacter() throws {
        let frame = FrameEncoder.close(.policyViolation, reason: String(repeating: "é", count: 100))
        #expect(frame.count <= 127)
        #expect(frame[2...3] == [0x03, 0xF0])
        #expect(String(validating: frame[4...], as: UTF8.self) != nil)
    }

    @Test func roundTripsThroughTheDecoderWhenMasked() throws {
        let text = String(repeating: "keygate ", count: 10_000)
        let frame = FrameEncoder.frame(
            opcode: Opcode.text.rawValue, payload: Array(text.utf8), maskingKey: [1, 2, 3, 4])
        var decoder = FrameDecoder(maxMessageBytes: 1 << 20)
        decoder.feed(frame)
        #expect(try decoder.next() == .text(text))
    }
}
