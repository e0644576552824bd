import CoreMetrics
import Keyspace
import Logging
import Plumbing

/// Delayed pushes: a message pushed with a delay waits in the delayed stream (one subject per
/// queue, the due time in its header) and is appended to its queue when due, by the gateway
/// that pushed it, on time to the millisecond as expiries are; every other gateway stands in a
/// second later should it still be waiting (its pusher gone). JetStream's own message
/// schedules (2.12) fire on a one-second wheel, at least 250 ms apart: too coarse for a delay
/// promised to the millisecond.
extension NATSEngine {
    /// Stores `message` for `queue`, to be appended when `delay` has passed; the queue's length
    /// with it.
    func pushDelayed(_ message: Payload, to queue: Key, delay: Duration) throws(KeyspaceError) -> PushOutcome
    {
        try requireAvailable()
        try refuseString(queue)
        let now = clock.now()
        let due = now + delay
        let headers = [
            Record.Field.contentType: HeaderText.encode(message.contentType),
            Record.Field.time: String(now.milliseconds),
            Record.Field.due: String(due.milliseconds),
            Record.Field.writer: inbox,
        ]
        let sequence = try attempt { () throws(NATSError) in
            try jetStream.publish(names.delayedSubject(queue), headers: headers, body: message.bytes).seq
        }
        if delayed.add(DelayedMessages.Entry(sequence: sequence, queue: queue, due: due), at: due) {
            delayer.wake()
        }
        outbox.publish(.push, key: queue, time: now, id: "push-delayed-\(sequence)")
        return .stored(length: try queueLength(queue) + delayedCount(queue))
    }

    /// A delayed message from the watch of the delayed stream.
    func delayedArrived(_ message: NATSMessage) {
        guard let delivery = message.delivery, let queue = names.key(ofSubject: message.subject),
            let due = message.headers[Record.Field.due].flatMap({ Int64($0) }).map(
                Timestamp.init(milliseconds:))
        else { return }
        let isPushedHere = message.headers[Record.Field.writer] == inbox
        let entry = DelayedMessages.Entry(sequence: delivery.streamSequence, queue: queue, due: due)
        if delayed.add(entry, at: isPushedHere ? due : due + Self.standInDelay) {
            delayer.wake()
        }
    }

    /// Appends the delayed messages whose moment has come to their queues; the delay thread's
    /// step.
    func revealDueMessages() -> WorkerThread.Pause {
        let due = delayed.takeDue(now: clock.now(), limit: 256)
        for entry in due {
            do {
                try reveal(entry)
            } catch {
                logger.warning(
                    "A delayed message could not be appended to its queue; tried again in a second",
                    metadata: ["queue": "\(entry.queue)", "error": "\(error)"])
                delayed.add(entry, at: clock.now() + .seconds(1))
            }
        }
        if due.count == 256 { return .none }
        guard let next = delayed.nextMoment else { return .untilWoken }
        return .untilWokenOrAfter(next - clock.now())
    }

    /// Appends delayed message `entry` to the tail of its queue (once, whichever gateways do
    /// it: its de-duplication id is the message's), and removes it from the delayed stream.
    private func reveal(_ entry: DelayedMessages.Entry) throws(KeyspaceError) {
        guard
            let stored = try attempt({ () throws(NATSError) in
                try jetStream.message(names.delayedStream, sequence: entry.sequence)
            })
        else { return }
        var headers = [Record.Field.messageID: "delayed-\(entry.sequence)"]
        headers[Record.Field.contentType] = stored.headers[Record.Field.contentType]
        headers[Record.Field.time] = stored.headers[Record.Field.time]
        try ensureConsumer(entry.queue)
        _ = try attempt { () throws(NATSError) in
            try jetStream.publish(names.queueSubject(entry.queue), headers: headers, body: stored.body)
        }
        let removed = try attempt { () throws(NATSError) in
            try jetStream.deleteMessage(names.delayedStream, sequence: entry.sequence)
        }
        guard removed else { return }
        let now = clock.now()
        outbox.publish(
            .release, key: entry.queue, time: now, id: "delayed-\(entry.sequence)", reason: .delayed)
        visibilityLateness.recordMilliseconds(max(0, now.milliseconds - entry.due.milliseconds))
    }

    /// The delayed messages of `queue` not yet due, from the delayed stream's leader.
    func delayedCount(_ queue: Key) throws(KeyspaceError) -> Int {
        let subject = names.delayedSubject(queue)
        let info = try attempt { () throws(NATSError) in
            try jetStream.streamInfo(names.delayedStream, subjects: subject)
        }
        return Int(info.state.subjects?[subject] ?? 0)
    }

    /// Removes `queue`'s delayed messages (the queue was deleted or expired).
    func purgeDelayed(_ queue: Key) throws(KeyspaceError) {
        try attempt { () throws(NATSError) in
            try jetStream.purge(names.delayedStream, subject: names.delayedSubject(queue))
        }
    }
}
