import Keyspace
import Plumbing

/// Moves (a pop with `to`, Redis's `LMOVE`): the oldest visible message of a queue is appended
/// to the tail of another under a de-duplication id, then acknowledged in its source.
extension NATSEngine {
    /// Moves the oldest visible message of the first of `queues` that has one to the tail of
    /// `destination`, or parks `receiver` until one comes.
    func move(
        from queues: [Key], to destination: Key, orWait receiver: (any MessageReceiver)?,
        waitingAtMost limit: Int
    ) throws(KeyspaceError) -> ConsumeOutcome {
        try requireAvailable()
        for queue in queues + [destination] {
            try refuseString(queue)
        }
        for queue in queues where try storedCount(queue) > 0 {
            guard let message = try fetch(upTo: 1, from: queue).first else { continue }
            if let receiver, !receiver.claim() {
                if let reply = message.reply {
                    try? connection.publish(NATSMessage(subject: reply, body: Array("-NAK".utf8)))
                }
                return .gone
            }
            return .delivered(.moved(try transfer(message, from: queue, to: destination), to: destination))
        }
        guard let receiver else { return .empty }
        return try park(receiver, for: .move(to: destination), on: queues, limit: limit)
    }

    /// Appends a message delivered from `queue` to the tail of `destination`, then acknowledges
    /// it in `queue`. Until the acknowledgement, the source's copy is delivered (invisible); a
    /// gateway that dies between the two leaves it to be delivered again when its
    /// acknowledgement wait ends, and moved again under the same de-duplication id (stored once
    /// within the queue stream's two-minute window).
    func transfer(_ message: NATSMessage, from queue: Key, to destination: Key) throws(KeyspaceError)
        -> PoppedMessage
    {
        guard let reply = message.reply, let delivery = message.delivery else {
            throw .unreachable("a delivery without its acknowledgement subject")
        }
        var headers = [
            Record.Field.messageID: "move-\(delivery.streamSequence)",
            Record.Field.messageNumber: Self.messageID(
                of: message.headers, sequence: delivery.streamSequence),
        ]
        headers[Record.Field.contentType] = message.headers[Record.Field.contentType]
        headers[Record.Field.time] = message.headers[Record.Field.time]
        try ensureConsumer(destination)
        let moved = try attempt { () throws(NATSError) in
            try jetStream.publish(names.queueSubject(destination), headers: headers, body: message.body)
        }
        try attempt { () throws(NATSError) in try acknowledgeDelivery(replyingTo: reply) }
        let now = clock.now()
        announcePop(queue, message: message, delivery: delivery, emptied: delivery.pending == 0, at: now)
        outbox.publish(.push, key: destination, time: now, id: "push-\(moved.seq)")
        return PoppedMessage(queue: queue, message: Self.payload(of: message.headers, body: message.body))
    }
}
