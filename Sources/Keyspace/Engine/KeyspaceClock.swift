import FoundationEssentials
import Plumbing

/// Where the keyspace reads the time: injected, so tests run on a manual clock.
package protocol KeyspaceClock: Sendable {
    /// The current wall-clock time.
    func now() -> Timestamp
}

/// The system's wall clock.
package struct SystemClock: KeyspaceClock {
    /// Creates the system clock.
    package init() {}

    /// The current time, from the system.
    package func now() -> Timestamp {
        Timestamp(milliseconds: Int64((Date.now.timeIntervalSince1970 * 1000).rounded(.down)))
    }
}

/// A clock that moves only when told to, for tests that must not sleep.
package final class ManualClock: KeyspaceClock {
    private let current: Mutex<Timestamp>

    /// Creates a clock stopped at `start`.
    package init(start: Timestamp = Timestamp(milliseconds: 1_700_000_000_000)) {
        current = Mutex(start)
    }

    /// The time it was last set to.
    package func now() -> Timestamp {
        current.withLock { $0 }
    }

    /// Moves the clock forward.
    package func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }
}
