/// One change to the keyspace as the log keeps it: enough to redo it on start-up.
///
/// Every change is absolute (a value, a deadline, a message at its place, a lease with its
/// number and end), so redoing the log over the snapshot it follows rebuilds the state exactly,
/// without the clock. Messages are named by id, so a record never depends on which message
/// happened to be where.
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
        /// A message without an id was stored at the tail of a queue, or at its head when given
        /// back: the record of logs written before messages had ids, read but never written.
        case legacyPush(queue: Key, message: Payload, atHead: Bool, created: Version?)
        /// The oldest visible message of a queue was taken; the last one removes the queue.
        case pop(queue: Key)
        /// A message was stored in a queue, in line at its place or delayed `until`; `created` is
        /// the version of the queue when the message created it.
        case enqueue(queue: Key, message: QueueMessage, created: Version?, until: Timestamp?)
        /// A visible message was leased until `deadline`, with `attempts` leases so far.
        case lease(queue: Key, id: UInt64, number: UInt64, deadline: Timestamp, attempts: Int)
        /// A leased message was acknowledged and removed; the last one removes the queue.
        case acknowledge(queue: Key, id: UInt64)
        /// A leased message went back in line at its place, with `attempts`.
        case release(queue: Key, id: UInt64, attempts: Int)
        /// A lease was moved to end at `deadline`.
        case extend(queue: Key, id: UInt64, deadline: Timestamp)
        /// A delayed message joined the line at `place`.
        case reveal(queue: Key, id: UInt64, place: UInt64)
        /// A message left `queue` (whatever its state there) for the line of `destination` at
        /// `place`, or for a consumer (`nil`); `created` is the version of `destination` when the
        /// message created it.
        case transfer(queue: Key, id: UInt64, to: Key?, place: UInt64, created: Version?)
        /// A queue's policy was set or, with `nil`, reset.
        case policy(queue: Key, policy: QueuePolicy?)
    }

    /// The change.
    var change: Change
    /// The id of the newest event once the change was made, so that ids go on after a restart.
    var lastEventID: UInt64

    private enum Kind: UInt8 {
        case set = 1
        case delete, expire, deadline, legacyPush, pop
        case enqueue, lease, acknowledge, release, extend, reveal, transfer, policy
    }

    /// Writes the record's body.
    func encode(into encoder: inout RecordEncoder) {
        func start(_ kind: Kind, _ key: Key) {
            encoder.write(byte: kind.rawValue)
            encoder.write(varint: lastEventID)
            encoder.write(key: key)
        }
        switch change {
        case .set(let key, let value, let version, let deadline):
            start(.set, key)
            encoder.write(varint: version.rawValue)
            encoder.write(timestamp: deadline)
            encoder.write(payload: value)
        case .delete(let key):
            start(.delete, key)
        case .expire(let key):
            start(.expire, key)
        case .deadline(let key, let deadline):
            start(.deadline, key)
            encoder.write(timestamp: deadline)
        case .legacyPush(let queue, let message, let atHead, let created):
            start(.legacyPush, queue)
            encoder.write(byte: atHead ? 1 : 0)
            encoder.write(varint: created?.rawValue ?? 0)
            encoder.write(payload: message)
        case .pop(let queue):
            start(.pop, queue)
        case .enqueue(let queue, let message, let created, let until):
            start(.enqueue, queue)
            encoder.write(varint: created?.rawValue ?? 0)
            encoder.write(timestamp: until)
            encoder.write(message: message)
        case .lease(let queue, let id, let number, let deadline, let attempts):
            start(.lease, queue)
            encoder.write(varint: id)
            encoder.write(varint: number)
            encoder.write(timestamp: deadline)
            encoder.write(varint: UInt64(attempts))
        case .acknowledge(let queue, let id):
            start(.acknowledge, queue)
            encoder.write(varint: id)
        case .release(let queue, let id, let attempts):
            start(.release, queue)
            encoder.write(varint: id)
            encoder.write(varint: UInt64(attempts))
        case .extend(let queue, let id, let deadline):
            start(.extend, queue)
            encoder.write(varint: id)
            encoder.write(timestamp: deadline)
        case .reveal(let queue, let id, let place):
            start(.reveal, queue)
            encoder.write(varint: id)
            encoder.write(varint: place)
        case .transfer(let queue, let id, let destination, let place, let created):
            start(.transfer, queue)
            encoder.write(varint: id)
            encoder.write(bytes: destination?.bytes ?? [])
            encoder.write(varint: place)
            encoder.write(varint: created?.rawValue ?? 0)
        case .policy(let queue, let policy):
            start(.policy, queue)
            encoder.write(policy: policy)
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
        case .legacyPush:
            let atHead = try decoder.readByte() == 1
            let created = try decoder.readVersion()
            change = .legacyPush(
                queue: key, message: try decoder.readPayload(), atHead: atHead, created: created)
        case .pop:
            change = .pop(queue: key)
        case .enqueue:
            let created = try decoder.readVersion()
            let until = try decoder.readTimestamp()
            change = .enqueue(queue: key, message: try decoder.readMessage(), created: created, until: until)
        case .lease:
            let id = try decoder.readVarint()
            let number = try decoder.readVarint()
            guard let deadline = try decoder.readTimestamp() else {
                throw RecordDecoder.Malformed(reason: "a lease without an end")
            }
            change = .lease(
                queue: key, id: id, number: number, deadline: deadline, attempts: try decoder.readCount())
        case .acknowledge:
            change = .acknowledge(queue: key, id: try decoder.readVarint())
        case .release:
            let id = try decoder.readVarint()
            change = .release(queue: key, id: id, attempts: try decoder.readCount())
        case .extend:
            let id = try decoder.readVarint()
            guard let deadline = try decoder.readTimestamp() else {
                throw RecordDecoder.Malformed(reason: "a lease without an end")
            }
            change = .extend(queue: key, id: id, deadline: deadline)
        case .reveal:
            let id = try decoder.readVarint()
            change = .reveal(queue: key, id: id, place: try decoder.readVarint())
        case .transfer:
            let id = try decoder.readVarint()
            let destination = try decoder.readOptionalKey()
            let place = try decoder.readVarint()
            change = .transfer(
                queue: key, id: id, to: destination, place: place, created: try decoder.readVersion())
        case .policy:
            change = .policy(queue: key, policy: try decoder.readPolicy())
        }
        try decoder.finish()
    }

    /// Creates a record.
    init(_ change: Change, lastEventID: UInt64) {
        self.change = change
        self.lastEventID = lastEventID
    }
}
