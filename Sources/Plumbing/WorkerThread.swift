import CLinux
import Dispatch
import Foundation

import struct Synchronization.Atomic

/// A named thread that runs one loop until stopped: the shape of every background thread of
/// Keygate (the expirer, the event notifier, the log's syncer, the loops of upgraded sockets…).
///
/// The loop runs a round, then sleeps as the round asks: not at all, until `wake()`, or until
/// a wake-up or a deadline. Wake-ups coalesce: any number of them between two rounds cost one
/// signal and cause one round. A loop that waits in an `EpollSet` instead is made with
/// `interrupt`, which `wake()` and `stop()` call to end that wait.
package final class WorkerThread: Sendable {
    /// How long the thread sleeps after a round.
    package enum Pause: Sendable {
        /// Not at all: the next round runs at once.
        case none
        /// Until `wake()` is called; at once if it was called during the round.
        case untilWoken
        /// Until `wake()` is called or `duration` has passed, whichever comes first.
        case untilWokenOrAfter(Duration)
    }

    /// The thread's name, as `top -H` and debuggers show it.
    package let name: String
    private let interrupt: (@Sendable () -> Void)?
    private let wakeups = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let isWakePending = Atomic<Bool>(false)
    private let phase = Atomic<UInt8>(Phase.idle.rawValue)

    private enum Phase: UInt8 {
        case idle, running, stopping, stopped
    }

    /// A thread named `name`, not started. `interrupt`, when given, ends whatever wait the
    /// rounds make themselves (an `EpollSet`'s), for `wake()` and `stop()`.
    package init(name: String, interrupt: (@Sendable () -> Void)? = nil) {
        self.name = name
        self.interrupt = interrupt
    }

    /// Whether `stop()` was called: a long round may check it to end early.
    package var isStopping: Bool {
        phase.load(ordering: .acquiring) >= Phase.stopping.rawValue
    }

    /// Starts the thread, which runs `round` and sleeps as it answers until `stop()`; once. The
    /// thread keeps `round` and this object alive until it ends.
    package func start(_ round: @escaping @Sendable () -> Pause) {
        guard
            phase.compareExchange(
                expected: Phase.idle.rawValue, desired: Phase.running.rawValue,
                ordering: .acquiringAndReleasing
            ).exchanged
        else { return }
        let thread = Thread { [self] in
            // Set here, by the thread itself: Foundation's `Thread.name` does not always reach
            // the kernel's name of the thread, which `top -H` and /proc show (15 bytes at most).
            _ = clinux_name_this_thread(name)
            while !isStopping {
                let pause = round()
                guard !isStopping else { break }
                sleep(pause)
            }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Asks for a round soon; cheap, from any thread, any number of times.
    package func wake() {
        guard !isWakePending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wakeups.signal()
        interrupt?()
    }

    /// Stops the thread and waits for its round to end; idempotent, and a thread never started
    /// will not start. Never from the thread itself.
    package func stop() {
        let previous = phase.exchange(Phase.stopped.rawValue, ordering: .acquiringAndReleasing)
        guard previous == Phase.running.rawValue else { return }
        wakeups.signal()
        interrupt?()
        finished.wait()
    }

    private func sleep(_ pause: Pause) {
        switch pause {
        case .none:
            return
        case .untilWoken:
            wakeups.wait()
        case .untilWokenOrAfter(let duration):
            _ = wakeups.wait(timeout: Self.deadline(after: duration))
        }
        // Acquires what the wakers wrote before their wake-up, which this round is for.
        _ = isWakePending.exchange(false, ordering: .acquiringAndReleasing)
    }

    private static func deadline(after duration: Duration) -> DispatchTime {
        .now() + .nanoseconds(Int(clamping: max(0, duration.wholeNanoseconds)))
    }
}
