import Keyspace
import MicroHTTPD
import Plumbing

/// A parked pop request, as the keyspace sees it: a receiver of one message.
///
/// Created before the request is parked and attached once it is, so that the deadline and
/// hang-up callbacks, made before parking, can name it.
final class ParkedConsumer: MessageReceiver {
    private let request = Mutex<ParkedRequest?>(nil)
    private let giveBack: @Sendable (Payload, Key) -> Void

    /// A consumer whose undelivered messages go back through `giveBack`.
    init(giveBack: @escaping @Sendable (Payload, Key) -> Void) {
        self.giveBack = giveBack
    }

    /// Ties the consumer to its parked request; before it is registered with the keyspace.
    func attach(_ parked: ParkedRequest) {
        request.withLock { $0 = parked }
    }

    /// Claims the parked request (an atomic flip, under the keyspace's lock).
    func claim() -> Bool {
        request.withLock { $0 }?.claim() ?? false
    }

    /// Answers with the message if the client is still there; otherwise closes the connection
    /// and leaves the message with the caller.
    func deliver(_ message: Payload, from queue: Key) -> Bool {
        guard let parked = request.withLock({ $0 }) else { return false }
        guard parked.isClientConnected else {
            parked.abandon()
            return false
        }
        let giveBack = giveBack
        parked.deliver(MessageResponse.make(message, from: queue)) {
            giveBack(message, queue)
        }
        return true
    }
}
