import Plumbing

/// The one thread that removes keys at their deadlines.
///
/// It sleeps until the earliest deadline, or until the engine wakes it because an earlier one
/// appeared; it never scans the keyspace. Each step holds the engine's lock for a bounded
/// batch, so writers wait at most one batch.
final class Expirer: Sendable {
    private let thread = WorkerThread(name: "keygate-expirer")

    /// Wakes the thread to look at the deadlines again; cheap, callable from any thread.
    func wake() {
        thread.wake()
    }

    /// Starts the thread, which calls `step` until stopped; idempotent.
    func start(clock: any KeyspaceClock, step: @escaping @Sendable () -> ExpiryPass) {
        thread.start {
            let pass = step()
            if pass.hasMoreDue { return .none }
            guard let next = pass.nextDeadline else { return .untilWoken }
            return .untilWokenOrAfter(next - clock.now())
        }
    }

    /// Stops the thread and waits for it to end; idempotent.
    func stop() {
        thread.stop()
    }
}
