/// One record of a snapshot after its header: a key with its value, or the end.
///
/// A queue is one record for the key, then one per message, oldest first, so that no record
/// grows with the queue.
enum SnapshotRecord: Equatable {
    /// A string key.
    case string(key: Key, version: Version, deadline: Timestamp?, value: Payload)
    /// A queue key, whose `messageCount` messages follow.
    case queue(key: Key, version: Version, deadline: Timestamp?, messageCount: Int)
    /// One message of the queue before it.
    case message(Payload)
    /// The last record: how many keys the snapshot holds. A snapshot without it is damaged.
    case end(keyCount: Int)

    private enum Kind: UInt8 {
        case string = 1
        case queue
        case message
        case end
    }

    /// Writes the record's body.
    func encode(into encoder: inout RecordEncoder) {
        switch self {
        case .string(let key, let version, let deadline, let value):
            encoder.write(byte: Kind.string.rawValue)
            encoder.write(key: key)
            encoder.write(varint: version.rawValue)
            encoder.write(timestamp: deadline)
            encoder.write(payload: value)
        case .queue(let key, let version, let deadline, let messageCount):
            encoder.write(byte: Kind.queue.rawValue)
            encoder.write(key: key)
            encoder.write(varint: version.rawValue)
            encoder.write(timestamp: deadline)
            encoder.write(varint: UInt64(messageCount))
        case .message(let message):
            encoder.write(byte: Kind.message.rawValue)
            encoder.write(payload: message)
        case .end(let keyCount):
            encoder.write(byte: Kind.end.rawValue)
            encoder.write(varint: UInt64(keyCount))
        }
    }

    /// Reads a record's body.
    init(decoding decoder: inout RecordDecoder) throws(RecordDecoder.Malformed) {
        let byte = try decoder.readByte()
        guard let kind = Kind(rawValue: byte) else {
            throw RecordDecoder.Malformed(reason: "unknown snapshot record kind \(byte)")
        }
        switch kind {
        case .string:
            let key = try decoder.readKey()
            let version = Version(try decoder.readVarint())
            let deadline = try decoder.readTimestamp()
            self = .string(key: key, version: version, deadline: deadline, value: try decoder.readPayload())
        case .queue:
            let key = try decoder.readKey()
            let version = Version(try decoder.readVarint())
            let deadline = try decoder.readTimestamp()
            let count = try decoder.readCount(atMost: Int.max)
            guard count > 0 else { throw RecordDecoder.Malformed(reason: "an empty queue") }
            self = .queue(key: key, version: version, deadline: deadline, messageCount: count)
        case .message:
            self = .message(try decoder.readPayload())
        case .end:
            self = .end(keyCount: try decoder.readCount(atMost: Int.max))
        }
        try decoder.finish()
    }
}
