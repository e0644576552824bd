import FoundationEssentials
import Keyspace
import Plumbing

/// Events on their way to the cluster's event stream, each with a de-duplication id
/// (`Nats-Msg-Id`) derived from the change it tells of, kept until the stream acknowledges it.
///
/// Publishing does not wait: events leave in the order they are given, on one connection, so
/// the stream stores them in that order. One whose acknowledgement does not come (a leader
/// election, a lost connection) is sent again with the same id, which the stream stores once
/// within its duplicate window (two minutes). So every gateway that sees a key expire may
/// publish its `expired`, and the stream keeps one.
final class EventOutbox: Sendable {
    private struct Pending {
        var message: NATSMessage
        var sent: ContinuousClock.Instant
    }

    private struct State {
        var pending: [UInt64: Pending] = [:]
        var next: UInt64 = 0
    }

    /// How long an event waits for its acknowledgement before it is sent again.
    private static let patience = Duration.seconds(2)

    private let connection: NATSConnection
    private let subject: String
    /// Acknowledgements come to `<inbox>.<number>`.
    private let inbox: String
    private let state = Mutex(State())
    private let retrier = WorkerThread(name: "keygate-nats-outbox")

    /// An outbox publishing to `subject`, its acknowledgements coming to `inbox.*` (which the
    /// caller routes to `acknowledge`).
    init(connection: NATSConnection, subject: String, inbox: String) {
        self.connection = connection
        self.subject = subject
        self.inbox = inbox
    }

    /// Sends an event of `type` on `key` made at `time`, identified by `id` for
    /// de-duplication. A send that fails now is tried again later.
    func publish(_ type: KeyspaceEventType, key: Key, time: Timestamp, id: String) {
        let message = state.withLock { state in
            state.next += 1
            let message = NATSMessage(
                subject: subject, reply: "\(inbox).\(state.next)",
                headers: [
                    Record.Field.messageID: id, Record.Field.event: type.rawValue,
                    Record.Field.time: String(time.milliseconds),
                ],
                body: key.bytes)
            state.pending[state.next] = Pending(message: message, sent: .now)
            return message
        }
        try? connection.publish(message)
    }

    /// Reads the stream's answer to the event sent as `number`: an acknowledgement ends it,
    /// an error leaves it to be sent again.
    func acknowledge(_ number: UInt64, _ answer: NATSMessage) {
        let isStored =
            answer.status == nil
            && (try? JSONDecoder().decode(PublishAcknowledgement.self, from: Data(answer.body))) != nil
        if isStored {
            _ = state.withLock { $0.pending.removeValue(forKey: number) }
        }
    }

    /// The events not yet acknowledged.
    var pendingCount: Int {
        state.withLock { $0.pending.count }
    }

    /// Starts sending again, every half second, what was not acknowledged in time.
    func start() {
        retrier.start { [self] in
            let now = ContinuousClock.now
            let late = state.withLock { state in
                var late: [NATSMessage] = []
                for (number, pending) in state.pending.sorted(by: { $0.key < $1.key })
                where now - pending.sent > Self.patience {
                    late.append(pending.message)
                    state.pending[number]?.sent = now
                }
                return late
            }
            if connection.isConnected {
                for message in late {
                    try? connection.publish(message)
                }
            }
            return .untilWokenOrAfter(.milliseconds(500))
        }
    }

    /// Stops the retries.
    func stop() {
        retrier.stop()
    }
}
