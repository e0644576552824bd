import Keyspace
import Plumbing

import struct Synchronization.Atomic

/// A consumer waiting for messages, whatever transport asked and whatever it takes (a pop, a
/// leased receive, a move): the keyspace's receiver of one handover, with the deadline of its
/// `wait`.
///
/// Whoever claims it first — a message arriving, its deadline, or its client leaving — is the
/// only one to answer or cancel it. Claiming is one atomic exchange, which the keyspace does
/// under its lock; everything else happens after that lock is released.
final class WaitingConsumer<Store: KeyspaceStore, Output: Sendable>: PendingOutput, MessageReceiver {
    private struct State {
        var delivery: Delivery<Output>?
        var deadline: DeadlineQueue.Ticket?
    }

    let timeout: Duration
    private let consumption: Consumption
    private let queues: [Key]
    private let operations: Operations<Store>
    /// The output of what the consumer got; throws for a consumer that cannot be served.
    private let output: @Sendable (Handover) throws -> Output
    /// The output when the wait ends with nothing.
    private let none: Output
    private let isClaimed = Atomic<Bool>(false)
    private let state = Mutex(State())

    /// A consumer of `queues` that takes what `consumption` says, waiting up to `wait`;
    /// `output` renders what it gets, `none` is its answer when nothing came.
    init(
        _ consumption: Consumption, from queues: [Key], wait: Duration, operations: Operations<Store>,
        output: @escaping @Sendable (Handover) throws -> Output, none: Output
    ) {
        self.consumption = consumption
        self.queues = queues
        timeout = wait
        self.operations = operations
        self.output = output
        self.none = none
    }

    /// Registers with the keyspace, unless a message arrived since the first look: then it
    /// takes that one at once.
    func start(_ delivery: @escaping Delivery<Output>) {
        state.withLock { $0.delivery = delivery }
        let outcome: ConsumeOutcome
        do {
            outcome = try operations.store.consume(
                consumption, from: queues, orWait: self, waitingAtMost: operations.limits.maxWaitingPerQueue)
        } catch {
            // A queue became a string since the first look, or too many wait.
            guard claim() else { return }
            _ = delivery(.failure(error), nil)
            return
        }
        switch outcome {
        case .delivered(let handover):
            // The keyspace claimed it for these messages, which are this consumer's to put
            // back if it cannot take them.
            if !hand(handover, durableAfter: operations.store.pendingDurability(), to: delivery) {
                operations.giveBack(handover)
            }
        case .waiting where isWaiting:
            let ticket = operations.deadlines.schedule(after: timeout) { [self] in
                guard claim() else { return }
                operations.store.cancelWait(self)
                _ = delivery(.success(none), nil)
            }
            state.withLock { $0.deadline = ticket }
            if !isWaiting {
                // A message claimed it meanwhile, before there was a deadline to cancel.
                cancelDeadline()
            }
        case .waiting:
            // Cancelled, or claimed by a message, before it was registered: it must not stay so.
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

    /// Takes the consumer; `true` for the first caller only. One atomic exchange: the keyspace
    /// calls it under its lock.
    func claim() -> Bool {
        !isClaimed.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Hands over what the keyspace claimed it for; `false` when its client is gone, and the
    /// keyspace puts it back. What its transport took but then could not send goes back too.
    func deliver(_ handover: Handover, durableAfter ticket: DurabilityTicket?) -> Bool {
        cancelDeadline()
        guard let delivery = state.withLock({ $0.delivery }) else { return false }
        return hand(handover, durableAfter: ticket, to: delivery)
    }

    /// Delivers `handover` once `ticket` is durable; `false` when the transport did not take it
    /// at once.
    private func hand(
        _ handover: Handover, durableAfter ticket: DurabilityTicket?, to delivery: @escaping Delivery<Output>
    )
        -> Bool
    {
        let rendered: Output
        do {
            rendered = try output(handover)
        } catch {
            return delivery(.failure(error), nil)
        }
        let undeliverable = operations.givingBack(handover)
        guard let ticket else { return delivery(.success(rendered), undeliverable) }
        DurableOutput(rendered, ticket: ticket, undeliverable: undeliverable, operations: operations).start(
            delivery)
        return true
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
