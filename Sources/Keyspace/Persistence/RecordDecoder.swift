/// Reads the fields `RecordEncoder` writes, from one record's body.
///
/// Every read checks the bounds: a damaged body throws `RecordDecoder.Malformed`, never
/// traps.
struct RecordDecoder {
    /// A body that does not hold the fields it should.
    struct Malformed: Error, Equatable {
        /// What was wrong.
        let reason: String
    }

    private let bytes: [UInt8]
    private var position: Int

    /// Creates a decoder over `bytes[range]`.
    init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        self.bytes = bytes
        position = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    private let end: Int

    /// Whether every byte has been read.
    var isAtEnd: Bool { position == end }

    /// Reads one byte.
    mutating func readByte() throws(Malformed) -> UInt8 {
        guard position < end else { throw Malformed(reason: "the record ends early") }
        defer { position += 1 }
        return bytes[position]
    }

    /// Reads a varint of at most 10 bytes.
    mutating func readVarint() throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            guard shift < 64 else { throw Malformed(reason: "a number is too long") }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    /// Reads a varint that must fit `limit`, as an `Int`.
    mutating func readCount(atMost limit: Int = Int(Int32.max)) throws(Malformed) -> Int {
        let value = try readVarint()
        guard value <= UInt64(limit) else { throw Malformed(reason: "a length of \(value) is too large") }
        return Int(value)
    }

    /// Reads length-prefixed bytes.
    mutating func readBytes() throws(Malformed) -> [UInt8] {
        let count = try readCount()
        guard count <= end - position else { throw Malformed(reason: "the record ends early") }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    /// Reads an optional time.
    mutating func readTimestamp() throws(Malformed) -> Timestamp? {
        let value = try readVarint()
        guard value > 0 else { return nil }
        guard value - 1 <= UInt64(Int64.max) else { throw Malformed(reason: "a time is out of range") }
        return Timestamp(milliseconds: Int64(value - 1))
    }

    /// Reads a key, validating it as the keyspace does.
    mutating func readKey() throws(Malformed) -> Key {
        let bytes = try readBytes()
        do {
            return try Key(bytes)
        } catch {
            throw Malformed(reason: "a key is not valid")
        }
    }

    /// Reads a payload.
    mutating func readPayload() throws(Malformed) -> Payload {
        let contentType = try readBytes()
        guard let text = String(validating: contentType, as: UTF8.self) else {
            throw Malformed(reason: "a media type is not UTF-8")
        }
        return Payload(bytes: try readBytes(), contentType: text)
    }

    /// Reads a version, 0 standing for none.
    mutating func readVersion() throws(Malformed) -> Version? {
        let value = try readVarint()
        return value == 0 ? nil : Version(value)
    }

    /// Reads a key, or an empty field for none.
    mutating func readOptionalKey() throws(Malformed) -> Key? {
        let bytes = try readBytes()
        guard !bytes.isEmpty else { return nil }
        do {
            return try Key(bytes)
        } catch {
            throw Malformed(reason: "a key is not valid")
        }
    }

    /// Reads a queue's message.
    mutating func readMessage() throws(Malformed) -> QueueMessage {
        let id = try readVarint()
        let place = try readVarint()
        guard let enqueuedAt = try readTimestamp() else {
            throw Malformed(reason: "a message without its time of arrival")
        }
        let attempts = try readCount()
        return QueueMessage(
            id: id, place: place, payload: try readPayload(), enqueuedAt: enqueuedAt, attempts: attempts)
    }

    /// Reads a queue's policy, or its absence.
    mutating func readPolicy() throws(Malformed) -> QueuePolicy? {
        guard try readByte() == 1 else { return nil }
        let visibility = try readCount(atMost: Int.max)
        let maxReceives = try readCount()
        return QueuePolicy(
            visibility: .milliseconds(visibility), maxReceives: maxReceives == 0 ? nil : maxReceives,
            deadLetter: try readOptionalKey())
    }

    /// Checks that nothing follows the last field.
    func finish() throws(Malformed) {
        guard isAtEnd else { throw Malformed(reason: "\(end - position) bytes follow the record's fields") }
    }
}
