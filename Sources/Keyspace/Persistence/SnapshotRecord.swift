/// One record of a snapshot after its header: a key with its value, or the end.
///
/// A queue is one record for the key, then one per message (those in line first, in order),
/// so that no record grows with the queue. Policies follow the keys, one record each.
enum SnapshotRecord: Equatable {
    /// What a queue's message is doing.
    enum MessageState: Equatable {
        /// In line, at its place.
        case visible
        /// Leased, with the lease's number, until `deadline`.
        case leased(number: UInt64, deadline: Timestamp)
        /// Delayed until `until`.
        case delayed(until: Timestamp)
    }

    /// A string key.
    case string(key: Key, version: Version, deadline: Timestamp?, value: Payload)
    /// A queue key, whose `messageCount` messages follow.
    case queue(key: Key, version: Version, deadline: Timestamp?, messageCount: Int)
    /// One message of the queue before it, without an id: the record of snapshots written
    /// before messages had ids, read but never written.
    case message(Payload)
    /// One message of the queue before it.
    case storedMessage(QueueMessage, MessageState)
    /// The policy of a queue, whether or not it holds messages.
    case policy(key: Key, policy: QueuePolicy)
    /// The last record: how many keys the snapshot holds. A snapshot without it is damaged.
    case end(keyCount: Int)

    private enum Kind: UInt8 {
        case string = 1
        case queue
        case message
        case end
        case storedMessage
        case policy
    }

    private enum StateKind: UInt8 {
        case visible, leased, delayed
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
        case .storedMessage(let message, let state):
            encoder.write(byte: Kind.storedMessage.rawValue)
            switch state {
            case .visible:
                encoder.write(byte: StateKind.visible.rawValue)
            case .leased(let number, let deadline):
                encoder.write(byte: StateKind.leased.rawValue)
                encoder.write(varint: number)
                encoder.write(timestamp: deadline)
            case .delayed(let until):
                encoder.write(byte: StateKind.delayed.rawValue)
                encoder.write(timestamp: until)
            }
            encoder.write(message: message)
        case .policy(let key, let policy):
            encoder.write(byte: Kind.policy.rawValue)
            encoder.write(key: key)
            encoder.write(policy: policy)
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
        case .storedMessage:
            let stateByte = try decoder.readByte()
            let state: MessageState
            switch StateKind(rawValue: stateByte) {
            case .visible:
                state = .visible
            case .leased:
                let number = try decoder.readVarint()
                guard let deadline = try decoder.readTimestamp() else {
                    throw RecordDecoder.Malformed(reason: "a lease without an end")
                }
                state = .leased(number: number, deadline: deadline)
            case .delayed:
                guard let until = try decoder.readTimestamp() else {
                    throw RecordDecoder.Malformed(reason: "a delay without an end")
                }
                state = .delayed(until: until)
            case nil:
                throw RecordDecoder.Malformed(reason: "unknown message state \(stateByte)")
            }
            self = .storedMessage(try decoder.readMessage(), state)
        case .policy:
            let key = try decoder.readKey()
            guard let policy = try decoder.readPolicy() else {
                throw RecordDecoder.Malformed(reason: "a policy record without a policy")
            }
            self = .policy(key: key, policy: policy)
        }
        try decoder.finish()
    }
}
