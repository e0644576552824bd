/// One change to the keyspace as the log keeps it: enough to redo it on start-up.
///
/// Every change is absolute (a value, a deadline, a message at one end of a queue), so redoing
/// the log over the snapshot it follows rebuilds the state exactly, without the clock.
struct JournalRecord: Equatable {
    /// What changed.
    enum Change: Equatable {
        /// A string value was written, with its new version and deadline.
        case set(key: Key, value: Payload, version: Version, deadline: Timestamp?)
        /// A key was deleted.
        case delete(key: Key)
        /// A key was removed at its deadline.
        case expire(key: Key)
        /// A key's deadline was set or, with `nil`, removed.
        case deadline(key: Key, deadline: Timestamp?)
        /// A message was stored at the tail of a queue, or at its head when given back;
        /// `created` is the version of the queue when the message created it.
        case push(queue: Key, message: Payload, atHead: Bool, created: Version?)
        /// The oldest message of a queue was taken; the last one removes the queue.
        case pop(queue: Key)
    }

    /// The change.
    var change: Change
    /// The id of the newest event once the change was made, so that ids go on after a restart.
    var lastEventID: UInt64

    private enum Kind: UInt8 {
        case set = 1
        case delete, expire, deadline, push, pop
    }

    /// Writes the record's body.
    func encode(into encoder: inout RecordEncoder) {
        switch change {
        case .set(let key, let value, let version, let deadline):
            encoder.write(byte: Kind.set.rawValue)
            encoder.write(varint: lastEventID)
            encoder.write(key: key)
            encoder.write(varint: version.rawValue)
            encoder.write(timestamp: deadline)
            encoder.write(payload: value)
        case .delete(let key):
            encoder.write(byte: Kind.delete.rawValue)
            encoder.write(varint: lastEventID)
            encoder.write(key: key)
        case .expire(let key):
            encoder.write(byte: Kind.expire.rawValue)
            encoder.write(varint: lastEventID)
            encoder.write(key: key)
        case .deadline(let key, let deadline):
            encoder.write(byte: Kind.deadline.rawValue)
            encoder.write(varint: lastEventID)
            encoder.write(key: key)
            encoder.write(timestamp: deadline)
        case .push(let queue, let message, let atHead, let created):
            encoder.write(byte: Kind.push.rawValue)
            encoder.write(varint: lastEventID)
            encoder.write(key: queue)
            encoder.write(byte: atHead ? 1 : 0)
            encoder.write(varint: created?.rawValue ?? 0)
            encoder.write(payload: message)
        case .pop(let queue):
            encoder.write(byte: Kind.pop.rawValue)
            encoder.write(varint: lastEventID)
            encoder.write(key: queue)
        }
    }

    /// Reads a record's body.
    init(decoding decoder: inout RecordDecoder) throws(RecordDecoder.Malformed) {
        let byte = try decoder.readByte()
        guard let kind = Kind(rawValue: byte) else {
            throw RecordDecoder.Malformed(reason: "unknown record kind \(byte)")
        }
        lastEventID = try decoder.readVarint()
        let key = try decoder.readKey()
        switch kind {
        case .set:
            let version = Version(try decoder.readVarint())
            let deadline = try decoder.readTimestamp()
            change = .set(key: key, value: try decoder.readPayload(), version: version, deadline: deadline)
        case .delete:
            change = .delete(key: key)
        case .expire:
            change = .expire(key: key)
        case .deadline:
            change = .deadline(key: key, deadline: try decoder.readTimestamp())
        case .push:
            let atHead = try decoder.readByte() == 1
            let created = try decoder.readVarint()
            change = .push(
                queue: key, message: try decoder.readPayload(), atHead: atHead,
                created: created == 0 ? nil : Version(created))
        case .pop:
            change = .pop(queue: key)
        }
        try decoder.finish()
    }

    /// Creates a record.
    init(_ change: Change, lastEventID: UInt64) {
        self.change = change
        self.lastEventID = lastEventID
    }
}
