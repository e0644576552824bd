/// Turns the keyspace's changes into what the rest of the world learns of them: events in the
/// history, records in the log when the keyspace persists, and what the engine owes once it
/// has released its lock.
///
/// The one place where a change becomes an event and a journal record; mutations only say
/// what they changed (`KeyspaceState.record(_:)`).
struct ChangePublisher {
    /// What an operation leaves for the engine to do once it has released the lock.
    struct Signals {
        /// A deadline earlier than the expirer's planned wake-up was added.
        var wakeExpirer = false
        /// Events were recorded.
        var notifySubscribers = false
        /// Keys were removed at their deadline, this many milliseconds late.
        var expiryLateness: [Int64] = []
        /// Records were appended to the journal.
        var checkJournal = false
        /// The operation stopped evicting after its share, to be run again once the lock has
        /// been released.
        var isEvictionInterrupted = false
        /// Consumers claimed, owed what they got.
        var handOffs: [HandOff] = []
        /// Messages received again after an earlier lease ended.
        var redeliveries = 0
        /// Messages moved to a dead-letter queue.
        var deadLettered = 0
        /// Messages made visible by their timer (a lease or a delay that ended), this many
        /// milliseconds late.
        var visibilityLateness: [Int64] = []
    }

    /// Where every change is recorded as events.
    let events: EventLog
    /// Where every change is recorded for a restart; `nil` when the keyspace lives in memory
    /// only.
    let journal: Journal?

    /// Publishes the changes `state` made since the last call, in the order made, and forgets
    /// them; under the engine's lock. O(changes).
    func publish(changesOf state: inout KeyspaceState, at now: Timestamp) -> Signals {
        var signals = Signals()
        while let change = state.takeChange() {
            publish(change, at: now, in: &state, signals: &signals)
        }
        signals.handOffs = state.takeHandOffs()
        return signals
    }

    /// Appends the events of `change`, then its journal record, which carries the id of the
    /// newest event; notes the signals it calls for.
    private func publish(
        _ change: consuming KeyspaceChange, at now: Timestamp, in state: inout KeyspaceState,
        signals: inout Signals
    ) {
        func appendEvent(_ type: KeyspaceEventType, _ key: Key, reason: EventReason? = nil) {
            state.lastEventID = events.append(type, key: key, time: now, reason: reason)
            signals.notifySubscribers = true
        }
        func noteDeadline(_ deadline: Timestamp?) {
            guard let deadline else { return }
            if let wakeup = state.expirerWakeup, wakeup <= deadline { return }
            state.expirerWakeup = deadline
            signals.wakeExpirer = true
        }
        let record: JournalRecord.Change
        // Consumed: the change is done with once published, which saves a copy of it per PUT
        // (measured with Benchmarks/persistence/instructions.py).
        switch consume change {
        case .set(let key, let value, let version, let deadline):
            appendEvent(.set, key)
            noteDeadline(deadline)
            record = .set(key: key, value: value, version: version, deadline: deadline)
        case .delete(let key):
            appendEvent(.del, key)
            record = .delete(key: key)
        case .evict(let key):
            // Logged as a delete: a restart does not bring an evicted key back.
            appendEvent(.evicted, key)
            record = .delete(key: key)
        case .expire(let key, let lateness):
            appendEvent(.expired, key)
            signals.expiryLateness.append(lateness)
            record = .expire(key: key)
        case .deadline(let key, let deadline, let hadDeadline):
            if deadline != nil {
                appendEvent(.expire, key)
            } else if hadDeadline {
                appendEvent(.persist, key)
            }
            noteDeadline(deadline)
            record = .deadline(key: key, deadline: deadline)
        case .push(let queue, let message, let created, let until):
            appendEvent(.push, queue)
            noteDeadline(until)
            record = .enqueue(queue: queue, message: message, created: created, until: until)
        case .pop(let queue, let emptied):
            appendEvent(.pop, queue)
            if emptied {
                appendEvent(.del, queue)
            }
            record = .pop(queue: queue)
        case .handOff(let queue):
            // Popped as soon as pushed: the keyspace is as it was, so there is nothing to log.
            appendEvent(.push, queue)
            appendEvent(.pop, queue)
            return
        case .lease(let queue, let id, let number, let deadline, let attempts):
            appendEvent(.lease, queue)
            noteDeadline(deadline)
            if attempts > 1 {
                signals.redeliveries += 1
            }
            record = .lease(queue: queue, id: id, number: number, deadline: deadline, attempts: attempts)
        case .acknowledge(let queue, let id, let emptied):
            appendEvent(.ack, queue)
            if emptied {
                appendEvent(.del, queue)
            }
            record = .acknowledge(queue: queue, id: id)
        case .release(let queue, let id, let attempts, let reason, let lateness):
            appendEvent(.release, queue, reason: reason)
            if let lateness {
                signals.visibilityLateness.append(lateness)
            }
            record = .release(queue: queue, id: id, attempts: attempts)
        case .extend(let queue, let id, let deadline):
            noteDeadline(deadline)
            record = .extend(queue: queue, id: id, deadline: deadline)
        case .reveal(let queue, let id, let place, let lateness):
            appendEvent(.release, queue, reason: .delayed)
            signals.visibilityLateness.append(lateness)
            record = .reveal(queue: queue, id: id, place: place)
        case .transfer(let transfer):
            switch transfer.kind {
            case .move:
                appendEvent(.pop, transfer.source)
            case .deadLetter:
                appendEvent(.deadletter, transfer.source)
                signals.deadLettered += 1
            }
            if transfer.emptied {
                appendEvent(.del, transfer.source)
            }
            if let destination = transfer.destination {
                appendEvent(.push, destination)
            }
            record = .transfer(
                queue: transfer.source, id: transfer.id, to: transfer.destination, place: transfer.place,
                created: transfer.created)
        case .policy(let queue, let policy):
            appendEvent(.policy, queue)
            record = .policy(queue: queue, policy: policy)
        }
        guard let journal else { return }
        journal.append(JournalRecord(record, lastEventID: state.lastEventID), liveBytes: state.liveBytes)
        signals.checkJournal = true
    }
}
