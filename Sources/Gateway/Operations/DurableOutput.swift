import Keyspace
import Plumbing

import struct Synchronization.Atomic

/// The output of a change, delivered once the store says the change is durable (with
/// `--fsync always`, once the log's sync covers it), or a failure if it cannot be within
/// `timeout`.
final class DurableOutput<Output: Sendable, Store: KeyspaceStore>: PendingOutput {
    /// The longest a change waits for durability before it is answered with a failure.
    static var defaultTimeout: Duration { .seconds(30) }

    let timeout: Duration
    private let output: Output
    private let ticket: DurabilityTicket
    private let undeliverable: (@Sendable () -> Void)?
    private let operations: Operations<Store>
    private let isClaimed = Atomic<Bool>(false)
    private let deadline = Mutex<DeadlineQueue.Ticket?>(nil)

    /// `output`, once the changes of `ticket` are durable; `undeliverable` undoes it if it
    /// cannot be delivered.
    init(
        _ output: Output, ticket: DurabilityTicket, undeliverable: (@Sendable () -> Void)?,
        operations: Operations<Store>, timeout: Duration = defaultTimeout
    ) {
        self.output = output
        self.ticket = ticket
        self.undeliverable = undeliverable
        self.operations = operations
        self.timeout = timeout
    }

    func start(_ delivery: @escaping Delivery<Output>) {
        let ticket = operations.deadlines.schedule(after: timeout) { [self] in
            guard claim() else { return }
            undeliverable?()
            _ = delivery(.failure(KeyspaceError.unavailable(.notSynced(within: timeout))), nil)
        }
        deadline.withLock { $0 = ticket }
        operations.store.whenDurable(self.ticket) { [self] failure in
            guard claim() else { return }
            cancelDeadline()
            if let failure {
                undeliverable?()
                _ = delivery(.failure(failure), nil)
            } else if !delivery(.success(output), undeliverable) {
                undeliverable?()
            }
        }
    }

    func cancel() {
        guard claim() else { return }
        cancelDeadline()
        undeliverable?()
    }

    /// Takes the output for delivery; `true` for the first caller only.
    private func claim() -> Bool {
        !isClaimed.exchange(true, ordering: .acquiringAndReleasing)
    }

    private func cancelDeadline() {
        if let ticket = deadline.withLock({ $0.take() }) {
            operations.deadlines.cancel(ticket)
        }
    }
}
