/// Builds frames (RFC 6455, section 5.2): unmasked as a server sends them, or masked as a
/// client must, for tests.
package enum FrameEncoder {
    /// A text message in one frame, built in one allocation straight from the text's UTF-8.
    /// O(n).
    package static func text(_ text: String) -> [UInt8] {
        let count = text.utf8.count
        var frame: [UInt8] = []
        frame.reserveCapacity(count + 10)
        frame.append(0x80 | Opcode.text.rawValue)
        appendLength(count, maskBit: 0, to: &frame)
        frame += text.utf8
        return frame
    }

    /// Appends the header of a text message in one frame whose payload, `payloadCount` bytes of
    /// UTF-8, the caller appends next: for building many frames into one buffer, which is then
    /// sent in one write. O(1).
    package static func appendTextHeader(payloadCount: Int, to frames: inout [UInt8]) {
        frames.append(0x80 | Opcode.text.rawValue)
        appendLength(payloadCount, maskBit: 0, to: &frames)
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
        appendLength(payload.count, maskBit: maskingKey == nil ? 0 : 0x80, to: &frame)
        guard let maskingKey else { return frame + payload }
        frame += maskingKey
        for (index, byte) in payload.enumerated() {
            frame.append(byte ^ maskingKey[index % 4])
        }
        return frame
    }

    /// Appends the second byte of a header, the mask bit and the length in its shortest form,
    /// and the extended length if any.
    private static func appendLength(_ count: Int, maskBit: UInt8, to frame: inout [UInt8]) {
        switch count {
        case ..<126:
            frame.append(maskBit | UInt8(count))
        case ..<65_536:
            frame.append(maskBit | 126)
            frame.append(UInt8(count >> 8))
            frame.append(UInt8(count & 0xFF))
        default:
            frame.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                frame.append(UInt8(truncatingIfNeeded: UInt64(count) >> shift))
            }
        }
    }
}
