import Testing

@testable import WebSocket

@Suite("WebSocket connection state machine")
struct WebSocketConnectionTests {
    private static let start = ContinuousClock.now
    private static let maskingKey: [UInt8] = [1, 2, 3, 4]

    private static func clientFrame(_ opcode: Opcode, _ payload: [UInt8]) -> [UInt8] {
        FrameEncoder.frame(opcode: opcode.rawValue, payload: payload, maskingKey: maskingKey)
    }

    private static func connection() -> WebSocketConnection {
        WebSocketConnection(maxMessageBytes: 1024, pingInterval: .seconds(30), now: start)
    }

    @Test func deliversTextAndAnswersPings() {
        var connection = Self.connection()
        let bytes =
            Self.clientFrame(.text, Array("one".utf8)) + Self.clientFrame(.ping, [7])
            + Self.clientFrame(.pong, []) + Self.clientFrame(.text, Array("two".utf8))
        #expect(
            connection.receive(bytes, at: Self.start) == [
                .deliver("one"), .send(FrameEncoder.pong([7])), .deliver("two"),
            ])
    }

    @Test func receivesFromAReadBufferAsFromAnyCollection() {
        let bytes = Self.clientFrame(.text, Array("one".utf8)) + Self.clientFrame(.ping, [7])
        var fromArray = Self.connection()
        var fromBuffer = Self.connection()
        let actions = fromBuffer.receive(bytes.span, at: Self.start)
        #expect(actions == fromArray.receive(bytes, at: Self.start))
        #expect(actions == [.deliver("one"), .send(FrameEncoder.pong([7]))])
    }

    @Test func echoesTheClientsCloseAndIgnoresWhatFollows() {
        var connection = Self.connection()
        let close = Self.clientFrame(.close, [0x03, 0xE8] + Array("done".utf8))
        let after = Self.clientFrame(.text, Array("late".utf8))
        #expect(
            connection.receive(close + after, at: Self.start) == [.answerClose(FrameEncoder.close(.normal))])
        #expect(connection.isClosing)
        #expect(connection.receive(after, at: Self.start).isEmpty)
    }

    @Test func answersACloseWithoutCodeWithAnEmptyClose() {
        var connection = Self.connection()
        #expect(
            connection.receive(Self.clientFrame(.close, []), at: Self.start) == [
                .answerClose(FrameEncoder.emptyClose)
            ])
    }

    @Test func refusesBinaryMessagesWith1003() {
        var connection = Self.connection()
        let actions = connection.receive(Self.clientFrame(.binary, [1, 2]), at: Self.start)
        #expect(actions.count == 1)
        #expect(Self.closeCode(of: actions.last) == 1003)
    }

    @Test func closesWithTheDecodersCode() {
        var connection = Self.connection()
        let actions = connection.receive(Self.clientFrame(.text, [0xFF]), at: Self.start)
        #expect(Self.closeCode(of: actions.last) == 1007)
        var tooBig = Self.connection()
        let oversized = tooBig.receive(
            Self.clientFrame(.text, [UInt8](repeating: 0x61, count: 1025)), at: Self.start)
        #expect(Self.closeCode(of: oversized.last) == 1009)
    }

    @Test func pingsASilentClientThenClosesIfItStaysSilent() {
        var connection = Self.connection()
        #expect(connection.tick(at: Self.start + .seconds(29)).isEmpty)
        #expect(connection.tick(at: Self.start + .seconds(30)) == [.send(FrameEncoder.ping([]))])
        #expect(connection.tick(at: Self.start + .seconds(45)).isEmpty)
        let actions = connection.tick(at: Self.start + .seconds(60))
        #expect(Self.closeCode(of: actions.last) == 1008)
        #expect(connection.tick(at: Self.start + .seconds(90)).isEmpty)
    }

    @Test func anyBytesCountAsAnAnswerToAPing() {
        var connection = Self.connection()
        _ = connection.tick(at: Self.start + .seconds(30))
        _ = connection.receive(Self.clientFrame(.pong, []), at: Self.start + .seconds(31))
        #expect(connection.tick(at: Self.start + .seconds(60)).isEmpty)
        #expect(connection.tick(at: Self.start + .seconds(61)) == [.send(FrameEncoder.ping([]))])
    }

    @Test func startsClosingOnce() {
        var connection = Self.connection()
        #expect(
            connection.startClosing(.goingAway, reason: "bye")
                == .close(FrameEncoder.close(.goingAway, reason: "bye")))
        #expect(connection.startClosing(.goingAway, reason: "bye") == nil)
        #expect(connection.receive(Self.clientFrame(.text, Array("x".utf8)), at: Self.start).isEmpty)
    }

    /// The code of a close action's frame.
    private static func closeCode(of action: WebSocketConnection.Action?) -> UInt16? {
        guard case .close(let frame)? = action, frame.count >= 4 else { return nil }
        return UInt16(frame[2]) << 8 | UInt16(frame[3])
    }
}
