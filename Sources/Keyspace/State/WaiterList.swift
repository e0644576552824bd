import DequeModule

/// The consumers waiting on one queue, oldest first, with ended waits not yet dropped.
///
/// Whether a wait goes on is not the list's to know: a wait ends by leaving the registry of
/// waiters (`KeyspaceState.waiters`), and the list, told how many of its entries ended, drops
/// them lazily as it meets them.
struct WaiterList {
    /// The waits registered, oldest first; some may have ended.
    private(set) var entries: Deque<Waiter.ID> = []
    /// How many entries still wait.
    private(set) var activeCount = 0
    private var inactiveCount = 0

    /// Whether no entry still waits: the list can be dropped.
    var isIdle: Bool { activeCount == 0 }

    /// Adds a wait at the tail.
    mutating func append(_ id: Waiter.ID) {
        entries.append(id)
        activeCount += 1
    }

    /// Removes and returns the oldest wait still in `registry`, dropping ended ones before it.
    /// Amortized O(1).
    mutating func removeOldestActive(in registry: [ObjectIdentifier: Waiter]) -> Waiter? {
        while let id = entries.popFirst() {
            if let waiter = registry[id.receiver], waiter.id == id {
                activeCount -= 1
                return waiter
            }
            inactiveCount -= 1
        }
        return nil
    }

    /// Notes that one of the entries ended (it has left `registry`); compacts when ended ones
    /// are the majority, so lists of consumers that time out without a push stay bounded.
    /// Amortized O(1).
    mutating func noteDeactivated(keeping registry: [ObjectIdentifier: Waiter]) {
        activeCount -= 1
        inactiveCount += 1
        if inactiveCount > 32 && inactiveCount > activeCount {
            entries = Deque(entries.filter { registry[$0.receiver]?.id == $0 })
            inactiveCount = 0
        }
    }
}
