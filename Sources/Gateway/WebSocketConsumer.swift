import Keyspace
import MicroHTTPD
import Plumbing

import struct Synchronization.Atomic

/// A pop waiting on a WebSocket, as the keyspace sees it: a receiver of one message, with the
/// deadline of the request's `wait`.
///
/// Whoever claims it first — a push, the deadline, or the socket closing — is the only one to
/// answer it or cancel it.
final class WebSocketConsumer: MessageReceiver {
    /// The id of the request, for the reply.
    let requestID: JSONValue
    private let isClaimed = Atomic<Bool>(false)
    private let timer = Mutex<DeadlineQueue.Ticket?>(nil)
    private let onMessage: @Sendable (WebSocketConsumer, Payload, Key) -> Bool

    /// Deadlines of waiting pops fire here; each handler only claims and replies.
    private static let deadlines: DeadlineQueue = {
        let deadlines = DeadlineQueue(name: "keygate-ws-pops")
        deadlines.start()
        return deadlines
    }()

    /// A consumer whose messages go to `onMessage`, which returns whether the client got it.
    init(requestID: JSONValue, onMessage: @escaping @Sendable (WebSocketConsumer, Payload, Key) -> Bool) {
        self.requestID = requestID
        self.onMessage = onMessage
    }

    /// Takes the consumer; `true` for the first caller only. An atomic flip.
    func claim() -> Bool {
        !isClaimed.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Whether nobody has claimed it yet.
    var isWaiting: Bool {
        !isClaimed.load(ordering: .acquiring)
    }

    /// Hands over the message it was claimed for; `false` when the client is gone.
    func deliver(_ message: Payload, from queue: Key) -> Bool {
        cancelDeadline()
        return onMessage(self, message, queue)
    }

    /// Calls `onTimeout` after `wait`, unless the deadline is cancelled first.
    func armDeadline(after wait: Duration, onTimeout: @escaping @Sendable () -> Void) {
        let deadline = Self.deadlines.schedule(after: wait, onTimeout)
        timer.withLock { $0 = deadline }
    }

    /// Cancels the deadline, if armed.
    func cancelDeadline() {
        if let ticket = timer.withLock({ $0.take() }) {
            Self.deadlines.cancel(ticket)
        }
    }
}
