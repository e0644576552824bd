import Keyspace
import Plumbing

import struct Synchronization.Atomic

/// A pop waiting for a message, whatever transport asked for it: the keyspace's receiver of one
/// message, with the deadline of its `wait`.
///
/// Whoever claims it first — a push handing it a message, its deadline, or its client leaving
/// — is the only one to answer or cancel it. Claiming is one atomic exchange, which the
/// keyspace does under its lock; everything else happens after that lock is released.
final class WaitingPop<Store: KeyspaceStore>: PendingOutput, MessageReceiver {
    private struct State {
        var delivery: Delivery<PoppedMessage?>?
        var deadline: DeadlineQueue.Ticket?
    }

    let timeout: Duration
    private let queues: [Key]
    private let operations: Operations<Store>
    private let isClaimed = Atomic<Bool>(false)
    private let state = Mutex(State())

    /// A pop from `queues` that waits up to `wait`.
    init(queues: [Key], wait: Duration, operations: Operations<Store>) {
        self.queues = queues
        timeout = wait
        self.operations = operations
    }

    /// Registers with the keyspace, unless a message arrived since the first look: then it
    /// takes that one at once.
    func start(_ delivery: @escaping Delivery<PoppedMessage?>) {
        state.withLock { $0.delivery = delivery }
        let outcome: PopOutcome
        do {
            outcome = try operations.store.pop(
                from: queues, orWait: self, waitingAtMost: operations.limits.maxWaitingPerQueue)
        } catch {
            // One of the queues became a string since the first look, or too many wait.
            guard claim() else { return }
            _ = delivery(.failure(error), nil)
            return
        }
        switch outcome {
        case .popped(let popped):
            // The keyspace claimed it for this message; once durable, it is delivered.
            let undeliverable = operations.givingBack(popped)
            guard let ticket = operations.store.pendingDurability() else {
                if !delivery(.success(popped), undeliverable) {
                    undeliverable()
                }
                return
            }
            DurableOutput(popped, ticket: ticket, undeliverable: undeliverable, operations: operations)
                .start(delivery)
        case .waiting where isWaiting:
            let ticket = operations.deadlines.schedule(after: timeout) { [self] in
                guard claim() else { return }
                operations.store.cancelWait(self)
                _ = delivery(.success(nil), nil)
            }
            state.withLock { $0.deadline = ticket }
            if !isWaiting {
                // A push claimed it meanwhile, before there was a deadline to cancel.
                cancelDeadline()
            }
        case .waiting:
            // Cancelled, or claimed by a push, before it was registered: it must not stay so.
            operations.store.cancelWait(self)
        case .empty, .gone:
            break
        }
    }

    func cancel() {
        guard claim() else { return }
        cancelDeadline()
        operations.store.cancelWait(self)
    }

    /// Takes the pop; `true` for the first caller only. One atomic exchange: the keyspace calls
    /// it under its lock.
    func claim() -> Bool {
        !isClaimed.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Hands over the message a push claimed it for; `false` when its client is gone, and the
    /// message is still the pusher's. One that its transport took but then could not send goes
    /// back to its queue.
    func deliver(_ message: Payload, from queue: Key) -> Bool {
        cancelDeadline()
        guard let delivery = state.withLock({ $0.delivery }) else { return false }
        // Straight from a push: nothing was journaled, so nothing waits for durability.
        let popped = PoppedMessage(queue: queue, message: message)
        return delivery(.success(popped), operations.givingBack(popped))
    }

    /// Whether nobody has claimed it yet.
    private var isWaiting: Bool {
        !isClaimed.load(ordering: .acquiring)
    }

    private func cancelDeadline() {
        if let ticket = state.withLock({ $0.deadline.take() }) {
            operations.deadlines.cancel(ticket)
        }
    }
}
