/// Builds frames (RFC 6455, section 5.2): unmasked as a server sends them, or masked as a
/// client must, for tests.
package enum FrameEncoder {
    /// A text message in one frame.
    package static func text(_ text: String) -> [UInt8] {
        frame(opcode: Opcode.text.rawValue, payload: Array(text.utf8))
    }

    /// A pong answering a ping with `payload`.
    package static func pong(_ payload: [UInt8]) -> [UInt8] {
        frame(opcode: Opcode.pong.rawValue, payload: payload)
    }

    /// A ping carrying `payload` (at most 125 bytes).
    package static func ping(_ payload: [UInt8]) -> [UInt8] {
        frame(opcode: Opcode.ping.rawValue, payload: payload)
    }

    /// A close frame with `code` and a reason cut to fit the 125 bytes a control frame holds.
    package static func close(_ code: CloseCode, reason: String = "") -> [UInt8] {
        var reasonBytes = Array(reason.utf8.prefix(123))
        // Never cut a character in two: the reason must stay UTF-8.
        while String(validating: reasonBytes, as: UTF8.self) == nil {
            reasonBytes.removeLast()
        }
        return frame(
            opcode: Opcode.close.rawValue,
            payload: [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)] + reasonBytes)
    }

    /// A close frame without a body: the answer to a client's close that gave no code.
    package static let emptyClose = frame(opcode: Opcode.close.rawValue, payload: [])

    /// Any frame, with its length in the shortest form. A `maskingKey` (4 bytes) masks it as a
    /// client would; the opcode and reserved bits are taken as given, valid or not.
    package static func frame(
        opcode: UInt8, payload: [UInt8], isFinal: Bool = true, reservedBits: UInt8 = 0,
        maskingKey: [UInt8]? = nil
    ) -> [UInt8] {
        var frame: [UInt8] = [(isFinal ? 0x80 : 0) | reservedBits << 4 | opcode & 0x0F]
        frame.reserveCapacity(payload.count + 14)
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        switch payload.count {
        case ..<126:
            frame.append(maskBit | UInt8(payload.count))
        case ..<65_536:
            frame.append(maskBit | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default:
            frame.append(maskBit | 127)
            frame += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(payload.count) >> (8 * $0)) }
        }
        guard let maskingKey else { return frame + payload }
        frame += maskingKey
        for (index, byte) in payload.enumerated() {
            frame.append(byte ^ maskingKey[index % 4])
        }
        return frame
    }
}
