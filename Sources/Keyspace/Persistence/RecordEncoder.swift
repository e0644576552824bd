import Plumbing

/// Writes the fields of records into a byte buffer: LEB128 varints and length-prefixed bytes.
struct RecordEncoder {
    /// The bytes written so far.
    private(set) var bytes: [UInt8]

    /// Creates an encoder over an empty buffer with room for `capacity` bytes.
    init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Creates an encoder that appends to `buffer`, which it takes over until `finish(into:)`
    /// hands it back: no byte is copied.
    init(appendingTo buffer: inout [UInt8]) {
        bytes = []
        swap(&bytes, &buffer)
    }

    /// Hands the buffer back to where `init(appendingTo:)` took it from.
    mutating func finish(into buffer: inout [UInt8]) {
        swap(&bytes, &buffer)
    }

    /// The number of bytes written.
    var count: Int { bytes.count }

    /// Overwrites four bytes at `offset`, little-endian.
    mutating func overwrite(uint32 value: UInt32, at offset: Int) {
        for index in 0..<4 {
            bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
        }
    }

    /// The checksum of the bytes from `offset` on.
    func checksum(from offset: Int) -> UInt32 {
        CRC32C.checksum(bytes[offset...])
    }

    /// Writes one byte.
    mutating func write(byte: UInt8) {
        bytes.append(byte)
    }

    /// Writes an unsigned number in 1 to 10 bytes, seven bits at a time, low bits first.
    mutating func write(varint value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// Writes a length, then the bytes.
    mutating func write(bytes field: some Collection<UInt8>) {
        write(varint: UInt64(field.count))
        // One copy of contiguous bytes (an array, a native string's UTF-8), not a loop.
        let isCopied = field.withContiguousStorageIfAvailable { bytes.append(contentsOf: $0) } != nil
        if !isCopied {
            bytes.append(contentsOf: field)
        }
    }

    /// Writes an optional time as a varint: 0 for none, the milliseconds plus one otherwise.
    mutating func write(timestamp: Timestamp?) {
        write(varint: timestamp.map { UInt64(max($0.milliseconds, 0)) + 1 } ?? 0)
    }

    /// Writes a key's bytes.
    mutating func write(key: Key) {
        write(bytes: key.bytes)
    }

    /// Writes a payload: its media type, then its bytes.
    mutating func write(payload: Payload) {
        write(bytes: payload.contentType.utf8)
        write(bytes: payload.bytes)
    }

    /// Writes a queue's message: its id, place, time of arrival, attempts and payload.
    mutating func write(message: QueueMessage) {
        write(varint: message.id)
        write(varint: message.place)
        write(timestamp: message.enqueuedAt)
        write(varint: UInt64(message.attempts))
        write(payload: message.payload)
    }

    /// Writes a queue's policy, or its absence: a flag, then the visibility in milliseconds,
    /// `maxReceives` (0 for none) and the dead-letter queue (empty for none).
    mutating func write(policy: QueuePolicy?) {
        guard let policy else { return write(byte: 0) }
        write(byte: 1)
        write(varint: UInt64(max(policy.visibility.roundedUpMilliseconds, 0)))
        write(varint: UInt64(policy.maxReceives ?? 0))
        write(bytes: policy.deadLetter?.bytes ?? [])
    }

    /// Appends four bytes, little-endian.
    mutating func write(uint32 value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
