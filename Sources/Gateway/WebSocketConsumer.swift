import Dispatch
import Keyspace
import MicroHTTPD
import Synchronization

/// A pop waiting on a WebSocket, as the keyspace sees it: a receiver of one message, with the
/// deadline of the request's `wait`.
///
/// Whoever claims it first — a push, the deadline, or the socket closing — is the only one to
/// answer it or cancel it.
final class WebSocketConsumer: MessageReceiver {
    /// The id of the request, for the reply.
    let requestID: JSONValue
    private let isClaimed = Atomic<Bool>(false)
    private let timer = Mutex<DeadlineTimer?>(nil)
    private let onMessage: @Sendable (WebSocketConsumer, Payload, Key) -> Bool

    /// Deadlines of waiting pops fire here; each handler only claims and replies.
    private static let deadlines = DispatchQueue(label: "keygate.websocket.pop-deadlines")

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
        let deadline = DeadlineTimer(timeout: wait, queue: Self.deadlines, handler: onTimeout)
        timer.withLock { $0 = deadline }
        deadline.activate()
    }

    /// Cancels the deadline, if armed.
    func cancelDeadline() {
        timer.withLock { timer in
            timer?.cancel()
            timer = nil
        }
    }
}
