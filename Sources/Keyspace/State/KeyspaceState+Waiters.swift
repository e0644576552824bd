extension KeyspaceState {
    /// The number of consumers waiting on at least one queue.
    var waitingCount: Int { waiters.count }

    /// The number of consumers waiting on `queue`.
    func waitingCount(on queue: Key) -> Int {
        waitersByQueue[queue]?.activeCount ?? 0
    }

    /// Registers `receiver` as waiting on each of `queues` (distinct) for `consumption`,
    /// unless one has `limit` consumers waiting already. O(number of queues).
    mutating func register(
        _ receiver: any MessageReceiver, on queues: [Key], for consumption: Consumption,
        waitingAtMost limit: Int
    ) throws(KeyspaceError) {
        for queue in queues where waitingCount(on: queue) >= limit {
            throw .tooManyWaiting(queue: queue, limit: limit)
        }
        // A receiver waits once: a second registration replaces the first.
        cancelWait(receiver)
        lastRegistration += 1
        let id = Waiter.ID(receiver: ObjectIdentifier(receiver), registration: lastRegistration)
        waiters[id.receiver] = Waiter(id: id, receiver: receiver, queues: queues, consumption: consumption)
        for queue in queues {
            waitersByQueue[queue, default: WaiterList()].append(id)
        }
    }

    /// Forgets a waiting consumer, on every queue it waits on. O(number of its queues).
    mutating func cancelWait(_ receiver: any MessageReceiver) {
        guard let waiter = waiters.removeValue(forKey: ObjectIdentifier(receiver)) else { return }
        noteEnded(waiter, except: nil)
    }

    /// Claims the oldest waiter on `queue` that still waits, forgetting those that can no
    /// longer be claimed. O(1) amortized per waiter forgotten.
    mutating func claimOldestWaiter(on queue: Key) -> Waiter? {
        guard var list = waitersByQueue.removeValue(forKey: queue) else { return nil }
        defer {
            if !list.isIdle {
                waitersByQueue[queue] = list
            }
        }
        while let waiter = list.removeOldestActive(in: waiters) {
            waiters[waiter.id.receiver] = nil
            noteEnded(waiter, except: queue)
            // The one call out of the keyspace under its lock: an atomic flag flip.
            if waiter.receiver.claim() {
                return waiter
            }
        }
        return nil
    }

    /// Tells the lists of a waiter that left `waiters` that it ended, but the list of
    /// `exception`, which has already taken it out; idle lists are dropped.
    private mutating func noteEnded(_ waiter: Waiter, except exception: Key?) {
        for queue in waiter.queues where queue != exception {
            guard var list = waitersByQueue.removeValue(forKey: queue) else { continue }
            list.noteDeactivated(keeping: waiters)
            if !list.isIdle {
                waitersByQueue[queue] = list
            }
        }
    }
}
