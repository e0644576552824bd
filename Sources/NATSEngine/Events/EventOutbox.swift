import CoreMetrics
import FoundationEssentials
import Keyspace
import Plumbing

/// Events on their way to the cluster's event stream, each with a de-duplication id
/// (`Nats-Msg-Id`) derived from the change it tells of, kept until the gateway reads it back
/// from the stream.
///
/// Publishing does not wait, nor asks for an acknowledgement (but for an event that repeats
/// one perhaps stored, `mayBeStored`): events leave in the order they are given, on one
/// connection, so the stream stores them in that order, and the event feed every gateway
/// reads (`confirm`) is the receipt. One that has not come back in time (a
/// leader election, a lost connection) is sent again with the same id and a reply subject,
/// which the stream stores once within its duplicate window (two minutes) and acknowledges
/// either way (`acknowledge`). So every gateway that sees a key expire may publish its
/// `expired`, and the stream keeps one.
final class EventOutbox: Sendable {
    private struct Pending {
        var message: NATSMessage
        /// When to send it again, unless it comes back first.
        var due: ContinuousClock.Instant
    }

    /// How long a sent event waits to come back before it is sent again.
    private static let patience = Duration.seconds(2)
    /// How often late events are looked at.
    private static let tick = Duration.milliseconds(100)

    private let connection: NATSConnection
    private let subject: String
    /// Acknowledgements of events sent again come to `<inbox>.<id>`.
    private let inbox: String
    private let pending = Mutex<[String: Pending]>([:])
    private let retrier = WorkerThread(name: "keygate-nats-outbox")
    /// Events sent again, not back from the stream in time; events published standing in for
    /// another gateway.
    private let resent, stoodIn: Counter

    /// An outbox publishing to `subject`, the acknowledgements of events sent again coming to
    /// `inbox.*` (which the caller routes to `acknowledge`), counting in `metrics` the events
    /// it sends again and those it stands in for.
    init(connection: NATSConnection, subject: String, inbox: String, metrics: any MetricsFactory) {
        self.connection = connection
        self.subject = subject
        self.inbox = inbox
        func counter(_ reason: String) -> Counter {
            Counter(
                label: "keygate_nats_events_resent_total", dimensions: [("reason", reason)], factory: metrics)
        }
        resent = counter("unconfirmed")
        stoodIn = counter("stand_in")
    }

    /// Sends an event of `type` on `key` made at `time` (for a `release`, with its `reason`),
    /// identified by `id` for de-duplication. A send that fails is tried again later.
    ///
    /// `mayBeStored`: the event repeats one another step may have published already (a push
    /// announced again by its pop, so that it comes first). It asks for the stream's answer,
    /// which confirms it at once: a duplicate is not stored, so it never comes back, and would
    /// otherwise wait to be sent again. `standingIn`: the event is one another gateway should
    /// have published, and whose copy has not come back (that gateway may be gone); it may be
    /// stored all the same, so it asks for the answer too, and it is counted apart.
    func publish(
        _ type: KeyspaceEventType, key: Key, time: Timestamp, id: String, reason: EventReason? = nil,
        mayBeStored: Bool = false, standingIn: Bool = false
    ) {
        var headers = [
            Record.Field.messageID: id, Record.Field.event: type.rawValue,
            Record.Field.time: String(time.milliseconds),
        ]
        headers[Record.Field.reason] = reason?.rawValue
        var message = NATSMessage(subject: subject, headers: headers, body: key.bytes)
        if mayBeStored || standingIn {
            message.reply = answerSubject(of: id)
        }
        pending.withLock { pending in
            pending[id] = Pending(message: message, due: .now + Self.patience)
        }
        try? connection.publish(message)
        if standingIn {
            stoodIn.increment()
        }
    }

    /// An event of de-duplication id `id` came back from the stream: it is stored.
    func confirm(_ id: String) {
        _ = pending.withLock { $0.removeValue(forKey: id) }
    }

    /// Reads the stream's answer to event `id` sent with a reply subject: an acknowledgement
    /// (stored, or a duplicate of one stored) ends it, an error leaves it to be sent again.
    func acknowledge(_ id: String, _ answer: NATSMessage) {
        let isStored =
            answer.status == nil
            && (try? JSONDecoder().decode(PublishAcknowledgement.self, from: Data(answer.body))) != nil
        if isStored {
            confirm(id)
        }
    }

    /// Starts sending again, every tenth of a second, the events that did not come back in
    /// time.
    func start() {
        retrier.start { [self] in
            guard connection.isConnected else { return .untilWokenOrAfter(Self.tick) }
            let now = ContinuousClock.now
            let due = pending.withLock { pending in
                let due = pending.filter { $0.value.due <= now }
                for id in due.keys {
                    pending[id]?.due = now + Self.patience
                }
                return due
            }
            for (id, entry) in due {
                var message = entry.message
                message.reply = answerSubject(of: id)
                try? connection.publish(message)
                resent.increment()
            }
            return .untilWokenOrAfter(Self.tick)
        }
    }

    /// Where the stream answers the publication of event `id`.
    private func answerSubject(of id: String) -> String {
        "\(inbox).\(id)"
    }

    /// Stops the retries.
    func stop() {
        retrier.stop()
    }
}
