/// How records sit in a file: a 4-byte length and a 4-byte CRC-32C of the body, both
/// little-endian, then the body.
enum RecordFraming {
    /// The bytes before each body.
    static let headerSize = 8
    /// The largest body a reader accepts; a larger length can only be damage.
    static let maxBodySize = 1 << 30

    /// Appends one framed record to `buffer`, its body written by `body` straight after a
    /// header that is filled in once the body's length and checksum are known.
    static func append(to buffer: inout [UInt8], _ body: (inout RecordEncoder) -> Void) {
        var encoder = RecordEncoder(appendingTo: &buffer)
        let start = encoder.count
        encoder.write(uint32: 0)
        encoder.write(uint32: 0)
        body(&encoder)
        let length = encoder.count - start - headerSize
        precondition(length <= maxBodySize, "a record over 1 GiB is never written")
        encoder.overwrite(uint32: UInt32(length), at: start)
        encoder.overwrite(uint32: encoder.checksum(from: start + headerSize), at: start + 4)
        encoder.finish(into: &buffer)
    }

    /// One framed record.
    static func frame(_ body: (inout RecordEncoder) -> Void) -> [UInt8] {
        var buffer: [UInt8] = []
        append(to: &buffer, body)
        return buffer
    }
}

/// Walks the records of a file read into memory, checking each one's length and checksum.
struct RecordScanner {
    /// Where reading stopped, and why.
    enum Stop: Equatable {
        /// Every byte was a whole, valid record.
        case end
        /// The bytes from `offset` on are not a valid record. `isTornTail` when they can only
        /// be the unfinished last write of a crash: an incomplete record, or a bad record with
        /// nothing but zeros after it.
        case damaged(offset: Int, reason: String, isTornTail: Bool)
    }

    /// The file's bytes.
    let bytes: [UInt8]
    /// Where the next record starts: after the last valid one.
    private(set) var offset = 0

    /// Creates a scanner from the start of `bytes`.
    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The next record's body, or `nil` with `stop` telling why not.
    ///
    /// A header of zeros is the end. Followed by zeros only, it is the room allocated ahead in
    /// a log; followed by anything else, the body of a record whose header (written last, by
    /// `LogMapping`) never was: a torn tail.
    mutating func next() -> Range<Int>? {
        let remaining = bytes.count - offset
        guard remaining > 0 else {
            stop = .end
            return nil
        }
        let start = offset + RecordFraming.headerSize
        guard remaining >= RecordFraming.headerSize else {
            return isZero(from: offset) ? end() : fail("an incomplete record header", isTornTail: true)
        }
        let length = Int(readUInt32(at: offset))
        let checksum = readUInt32(at: offset + 4)
        if length == 0 && checksum == 0 {
            return isZero(from: start) ? end() : fail("a record without its header", isTornTail: true)
        }
        // Every body holds at least its kind.
        guard length > 0, length <= RecordFraming.maxBodySize else {
            return fail("a record length of \(length) bytes", isTornTail: isZero(from: start))
        }
        guard length <= bytes.count - start else {
            return fail("a record of \(length) bytes with \(bytes.count - start) left", isTornTail: true)
        }
        let body = start..<start + length
        guard CRC32C.checksum(bytes[body]) == checksum else {
            // What a crash leaves of writes never synced: a short record, then zeros.
            return fail("a checksum mismatch", isTornTail: isZero(from: body.upperBound))
        }
        offset = body.upperBound
        return body
    }

    /// Why `next()` last returned `nil`.
    private(set) var stop = Stop.end

    /// Whether every byte from `position` to the end is zero. O(bytes left).
    private func isZero(from position: Int) -> Bool {
        bytes[position...].allSatisfy { $0 == 0 }
    }

    private mutating func end() -> Range<Int>? {
        stop = .end
        return nil
    }

    private mutating func fail(_ reason: String, isTornTail: Bool) -> Range<Int>? {
        stop = .damaged(offset: offset, reason: reason, isTornTail: isTornTail)
        return nil
    }

    private func readUInt32(at position: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in 0..<4 {
            value |= UInt32(bytes[position + index]) << (8 * index)
        }
        return value
    }
}
