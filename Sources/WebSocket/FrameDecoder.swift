/// Turns the bytes a client sends into messages (RFC 6455, section 5), refusing with the close
/// code to use anything the protocol forbids: unmasked frames, reserved bits, unknown opcodes,
/// bad fragmentation, long or fragmented control frames, lengths not in their shortest form,
/// text that is not UTF-8 (checked fragment by fragment), messages over the size limit
/// (refused from the frame header, before the payload is buffered).
///
/// A pure state machine: feed it bytes as they arrive, then take messages until it needs more.
package struct FrameDecoder {
    /// A message in fragments.
    private struct Fragments {
        var opcode: Opcode
        var bytes: [UInt8]
        var validator = UTF8Validator()
    }

    /// The largest message accepted, in bytes, all fragments together.
    package let maxMessageBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var fragments: Fragments?

    /// A decoder refusing messages over `maxMessageBytes`.
    package init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Adds bytes received from the client.
    package mutating func feed(_ bytes: some Collection<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message or control frame; `nil` until more bytes are fed.
    ///
    /// After an error the connection must be closed with its code: the decoder's state is no
    /// longer meaningful.
    package mutating func next() throws(WebSocketError) -> WebSocketMessage? {
        while let frame = try nextFrame() {
            if let message = try assemble(frame) {
                return message
            }
        }
        return nil
    }

    private struct Frame {
        var isFinal: Bool
        var opcode: Opcode
        var payload: [UInt8]
    }

    private mutating func nextFrame() throws(WebSocketError) -> Frame? {
        let available = buffer.count - start
        guard available >= 2 else { return nil }
        let first = buffer[start]
        let second = buffer[start + 1]
        guard first & 0x70 == 0 else {
            throw WebSocketError(.protocolError, "Reserved bits are set, but no extension was agreed.")
        }
        guard let opcode = Opcode(rawValue: first & 0x0F) else {
            throw WebSocketError(.protocolError, "Unknown opcode \(first & 0x0F).")
        }
        let isFinal = first & 0x80 != 0
        guard second & 0x80 != 0 else {
            throw WebSocketError(.protocolError, "Frames from a client must be masked.")
        }
        let shortLength = Int(second & 0x7F)
        if opcode.isControl {
            guard isFinal else {
                throw WebSocketError(.protocolError, "A control frame cannot be fragmented.")
            }
            guard shortLength <= 125 else {
                throw WebSocketError(.protocolError, "A control frame carries at most 125 bytes.")
            }
        }
        let lengthBytes = shortLength == 126 ? 2 : shortLength == 127 ? 8 : 0
        let headerLength = 2 + lengthBytes + 4
        guard available >= headerLength else { return nil }
        var length = UInt64(shortLength)
        if lengthBytes > 0 {
            length = buffer[(start + 2)..<(start + 2 + lengthBytes)].reduce(0) { $0 << 8 | UInt64($1) }
            let shortest: UInt64 = lengthBytes == 2 ? 126 : 65_536
            guard length >= shortest, length < 1 << 63 else {
                throw WebSocketError(.protocolError, "A payload length is not in its shortest form.")
            }
        }
        try checkSequence(opcode)
        if !opcode.isControl {
            let total = UInt64(fragments?.bytes.count ?? 0) + length
            guard total <= UInt64(maxMessageBytes) else {
                throw WebSocketError(.messageTooBig, "A message is limited to \(maxMessageBytes) bytes.")
            }
        }
        guard UInt64(available - headerLength) >= length else { return nil }
        let payloadStart = start + headerLength
        var payload = Array(buffer[payloadStart..<(payloadStart + Int(length))])
        Self.unmask(&payload, key: buffer[(start + headerLength - 4)..<(start + headerLength)])
        start = payloadStart + Int(length)
        return Frame(isFinal: isFinal, opcode: opcode, payload: payload)
    }

    /// XORs `payload` with the 4-byte masking `key` repeated (RFC 6455, section 5.3), eight
    /// bytes at a time. O(n).
    private static func unmask(_ payload: inout [UInt8], key: ArraySlice<UInt8>) {
        var key4: UInt32 = 0
        withUnsafeMutableBytes(of: &key4) { $0.copyBytes(from: key) }
        let key8 = UInt64(key4) | UInt64(key4) << 32
        payload.withUnsafeMutableBytes { bytes in
            var offset = 0
            while offset + 8 <= bytes.count {
                let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                bytes.storeBytes(of: word ^ key8, toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            // The rest, fewer than 8 bytes, byte by byte; the key's phase is unchanged, as 8
            // is a multiple of 4.
            withUnsafeBytes(of: key4) { key in
                while offset < bytes.count {
                    bytes[offset] ^= key[offset % 4]
                    offset += 1
                }
            }
        }
    }

    /// Refuses a data frame that does not fit the fragmentation in progress.
    private func checkSequence(_ opcode: Opcode) throws(WebSocketError) {
        switch opcode {
        case .continuation where fragments == nil:
            throw WebSocketError(.protocolError, "A continuation frame continues no message.")
        case .text where fragments != nil, .binary where fragments != nil:
            throw WebSocketError(.protocolError, "A new message began before the last one ended.")
        default:
            break
        }
    }

    private mutating func assemble(_ frame: Frame) throws(WebSocketError) -> WebSocketMessage? {
        switch frame.opcode {
        case .ping:
            return .ping(frame.payload)
        case .pong:
            return .pong(frame.payload)
        case .close:
            return try Self.close(frame.payload)
        case .text where frame.isFinal:
            // A message in one frame, the common case: no fragments to gather.
            return .text(try Self.text(frame.payload))
        case .binary where frame.isFinal:
            return .binary(frame.payload)
        case .text, .binary:
            fragments = Fragments(opcode: frame.opcode, bytes: [])
            return try append(frame)
        case .continuation:
            return try append(frame)
        }
    }

    private mutating func append(_ frame: Frame) throws(WebSocketError) -> WebSocketMessage? {
        guard var message = fragments else { return nil }
        if message.opcode == .text, !message.validator.feed(frame.payload) {
            throw WebSocketError(.invalidPayload, "A text message is not UTF-8.")
        }
        message.bytes += frame.payload
        guard frame.isFinal else {
            fragments = message
            return nil
        }
        fragments = nil
        guard message.opcode == .text else { return .binary(message.bytes) }
        guard message.validator.isComplete else {
            throw WebSocketError(.invalidPayload, "A text message ends inside a character.")
        }
        return .text(String(decoding: message.bytes, as: UTF8.self))
    }

    /// The text of a message in one frame, checked to be UTF-8.
    private static func text(_ payload: [UInt8]) throws(WebSocketError) -> String {
        // UTF8Span checks a whole buffer at once, much faster than UTF8Validator's byte-by-byte
        // state machine, which only fragments need.
        if let text = try? UTF8Span(validating: payload.span) {
            return String(copying: text)
        }
        var validator = UTF8Validator()
        if validator.feed(payload) {
            throw WebSocketError(.invalidPayload, "A text message ends inside a character.")
        }
        throw WebSocketError(.invalidPayload, "A text message is not UTF-8.")
    }

    private static func close(_ payload: [UInt8]) throws(WebSocketError) -> WebSocketMessage {
        guard !payload.isEmpty else { return .close(nil, "") }
        guard payload.count >= 2 else {
            throw WebSocketError(.protocolError, "A close frame's code takes two bytes.")
        }
        let code = CloseCode(UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isSendable else {
            throw WebSocketError(.protocolError, "\(code) is not a close code a peer may send.")
        }
        guard let reason = String(validating: payload.dropFirst(2), as: UTF8.self) else {
            throw WebSocketError(.invalidPayload, "A close reason is not UTF-8.")
        }
        return .close(code, reason)
    }
}
