import Foundation
import KeygateTestSupport

/// A blocking WebSocket client over `TestHTTPClient`, for tests of `/v1/ws`: the handshake,
/// masked text messages out, and the server's frames in.
final class WebSocketTestClient {
    /// One frame the server sent.
    struct Frame {
        /// The opcode: 1 for text, 8 for close.
        var opcode: UInt8
        /// The payload, unmasked as a server sends it.
        var payload: [UInt8]

        /// The payload as a JSON object, if it is one.
        var json: [String: Any]? {
            try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
        }
    }

    /// The connection under the WebSocket.
    let connection: TestHTTPClient

    /// Connects to `port` and opens a WebSocket at `/v1/ws`; `receiveBuffer` and `segmentSize`
    /// as for `TestHTTPClient`.
    init(port: Int, receiveBuffer: Int32? = nil, segmentSize: Int32? = nil) throws {
        connection = try TestHTTPClient(port: port, receiveBuffer: receiveBuffer, segmentSize: segmentSize)
        try connection.send(
            TestHTTPClient.encode(
                "GET", "/v1/ws",
                headers: [
                    ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ]))
        let head = try connection.readStreamHead()
        guard head.status == 101 else {
            throw TestHTTPClient.Failure(description: "no WebSocket: \(head.status)")
        }
    }

    /// Sends one text message in one frame, masked as a client must (RFC 6455, section 5.3).
    func send(_ text: String) throws {
        try send(opcode: 1, Array(text.utf8))
    }

    /// Sends one frame, masked as a client must (RFC 6455, section 5.3).
    private func send(opcode: UInt8, _ payload: [UInt8]) throws {
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        frame += mask
        for (index, byte) in payload.enumerated() {
            frame.append(byte ^ mask[index % 4])
        }
        try connection.send(frame)
    }

    /// Subscribes with `request`'s members (`key`, `type`, …) as request `id`, and checks the
    /// reply; returns the subscription's number.
    func subscribe(_ members: String, id: Int = 1) throws -> Int {
        try send(#"{"id":\#(id),"op":"subscribe",\#(members)}"#)
        guard let reply = try next().json, reply["ok"] as? Bool == true,
            let number = reply["subscription"] as? Int
        else { throw TestHTTPClient.Failure(description: "the subscription was refused") }
        return number
    }

    /// The next frame the server sends but pings, which are answered: a test that outlasts
    /// the ping interval (sanitized builds are slow) must not be closed for its silence.
    func next() throws -> Frame {
        while true {
            let head = try connection.read(exactly: 2)
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                length = try connection.read(exactly: 2).reduce(0) { $0 << 8 | Int($1) }
            } else if length == 127 {
                length = try connection.read(exactly: 8).reduce(0) { $0 << 8 | Int($1) }
            }
            let frame = Frame(opcode: head[0] & 0x0F, payload: try connection.read(exactly: length))
            guard frame.opcode == 9 else { return frame }
            try send(opcode: 10, frame.payload)
        }
    }

    /// The next event of a subscription, as `(subscription, event)`; fails on anything else.
    func nextEvent() throws -> (subscription: Int, event: [String: Any]) {
        let frame = try next()
        guard frame.opcode == 1, let message = frame.json, let subscription = message["subscription"] as? Int,
            let event = message["event"] as? [String: Any]
        else {
            throw TestHTTPClient.Failure(
                description: "not an event: \(String(decoding: frame.payload, as: UTF8.self))")
        }
        return (subscription, event)
    }
}
