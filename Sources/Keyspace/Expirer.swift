import Dispatch
import Foundation
import Synchronization

/// The one thread that removes keys at their deadlines.
///
/// It sleeps until the earliest deadline, or until the engine wakes it because an earlier one
/// appeared; it never scans the keyspace. Each step holds the engine's lock for a bounded
/// batch, so writers wait at most one batch.
final class Expirer: Sendable {
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let isRunning = Atomic<Bool>(false)
    private let isStopping = Atomic<Bool>(false)

    /// Wakes the thread to look at the deadlines again; cheap, callable from any thread.
    func wake() {
        wakeup.signal()
    }

    /// Starts the thread, which calls `step` until stopped; idempotent.
    func start(clock: any KeyspaceClock, step: @escaping @Sendable () -> ExpiryPass) {
        guard
            isRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
                .exchanged
        else { return }
        let thread = Thread { [self] in
            run(clock: clock, step: step)
            finished.signal()
        }
        thread.name = "keygate-expirer"
        thread.start()
    }

    /// Stops the thread and waits for it to end; idempotent.
    func stop() {
        guard isRunning.load(ordering: .acquiring),
            isStopping.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
                .exchanged
        else { return }
        wakeup.signal()
        finished.wait()
    }

    private func run(clock: any KeyspaceClock, step: @Sendable () -> ExpiryPass) {
        while !isStopping.load(ordering: .acquiring) {
            let pass = step()
            if pass.hasMoreDue { continue }
            guard let next = pass.nextDeadline else {
                wakeup.wait()
                continue
            }
            let milliseconds = next.milliseconds - clock.now().milliseconds
            if milliseconds > 0 {
                _ = wakeup.wait(timeout: .now() + .milliseconds(Int(milliseconds)))
            }
        }
    }
}
