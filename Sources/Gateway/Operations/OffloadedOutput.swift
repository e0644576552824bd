import Keyspace
import Plumbing

/// An operation run on a `BlockingPool` instead of the thread that received it: for a store
/// whose calls wait on the network (a NATS cluster), so that libmicrohttpd's threads go on
/// serving other requests and event streams while it waits. Delivers what the operation
/// gives, once it has run: its output, its failure, or, for one that waits in turn (a pop),
/// what that wait delivers.
final class OffloadedOutput<Output: Sendable>: PendingOutput {
    /// What the operation does once it runs: its completion, and what undoes an output that
    /// cannot be delivered.
    typealias Work = @Sendable () throws -> (Completion<Output>, undeliverable: (@Sendable () -> Void)?)

    private enum Phase {
        case waiting
        /// The operation runs, or ran and waits in turn for what `pending` delivers.
        case running(pending: (any PendingOutput<Output>)?)
        case cancelled
    }

    let timeout: Duration
    private let work: Work
    private let pool: BlockingPool
    private let phase = Mutex(Phase.waiting)

    /// `work`, to run on `pool`, delivered within `timeout` (its own waits included).
    init(timeout: Duration, pool: BlockingPool, work: @escaping Work) {
        self.timeout = timeout
        self.pool = pool
        self.work = work
    }

    func start(_ delivery: @escaping Delivery<Output>) {
        let isSubmitted = pool.submit { [self] in
            let isCancelled = phase.withLock { phase in
                guard case .waiting = phase else { return true }
                phase = .running(pending: nil)
                return false
            }
            guard !isCancelled else { return }
            run(delivering: delivery)
        }
        if !isSubmitted {
            _ = delivery(.failure(GatewayError.notReady), nil)
        }
    }

    func cancel() {
        let pending = phase.withLock { phase -> (any PendingOutput<Output>)? in
            defer { phase = .cancelled }
            guard case .running(let pending) = phase else { return nil }
            return pending
        }
        pending?.cancel()
    }

    private func run(delivering delivery: @escaping Delivery<Output>) {
        let completion: Completion<Output>
        let undeliverable: (@Sendable () -> Void)?
        do {
            (completion, undeliverable) = try work()
        } catch {
            _ = delivery(.failure(error), nil)
            return
        }
        switch completion {
        case .now(let output):
            // A client gone meanwhile is told nothing, and what the output holds goes back.
            if !delivery(.success(output), undeliverable) {
                undeliverable?()
            }
        case .later(let pending):
            let isCancelled = phase.withLock { phase in
                guard case .running = phase else { return true }
                phase = .running(pending: pending)
                return false
            }
            if isCancelled {
                pending.cancel()
            } else {
                pending.start(delivery)
            }
        }
    }
}
