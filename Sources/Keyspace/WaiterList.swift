import DequeModule

/// The consumers waiting on one queue, oldest first, with inactive entries not yet dropped.
struct WaiterList {
    /// Registered waiters, oldest first; some may be inactive.
    private(set) var entries: Deque<Waiter> = []
    /// How many entries are active.
    private(set) var activeCount = 0
    private var inactiveCount = 0

    /// Whether no entry is active: the list can be dropped.
    var isIdle: Bool { activeCount == 0 }

    /// Adds a waiter at the tail.
    mutating func append(_ waiter: Waiter) {
        entries.append(waiter)
        activeCount += 1
    }

    /// Removes and returns the oldest active waiter, dropping inactive ones before it.
    mutating func removeOldestActive() -> Waiter? {
        while let waiter = entries.popFirst() {
            if waiter.isActive {
                activeCount -= 1
                return waiter
            }
            inactiveCount -= 1
        }
        return nil
    }

    /// Notes that one of the entries became inactive; compacts when they are the majority,
    /// so lists of consumers that time out without a push stay bounded. Amortized O(1).
    mutating func noteDeactivated() {
        activeCount -= 1
        inactiveCount += 1
        if inactiveCount > 32 && inactiveCount > activeCount {
            entries = Deque(entries.filter(\.isActive))
            inactiveCount = 0
        }
    }
}
