import Plumbing

extension KeyspaceState {
    /// The keys, policies and counters a snapshot saves, as they are now. O(1): the slab's pages
    /// and the hash tables are shared until the next change to each, which then copies that one
    /// page (4 096 slots) or table (a 64th of the keys), and the ordered index's chunks likewise
    /// (one chunk of at most 1 024 keys).
    func capture() -> KeyspaceCapture {
        KeyspaceCapture(
            entries: entries, order: order, policies: policies, lastVersion: lastVersion,
            lastEventID: lastEventID)
    }

    /// Redoes a change read from the log, as it was made: no change recorded, no clock, no
    /// expiry, no consumer served (deadlines are absolute; keys past theirs are expired, and
    /// leases and delays past theirs end, once the whole log is redone). A change that does not
    /// fit the state, which only a damaged log could hold, is ignored. `loggedSince` is when
    /// the log was started: the arrival time of messages logged before messages had one. `now`
    /// is when the load began, for the eviction policy's first word of each key. O(log n).
    mutating func apply(_ record: JournalRecord, loggedSince: Timestamp, now: Timestamp) {
        lastEventID = max(lastEventID, record.lastEventID)
        switch record.change {
        case .set(let key, let value, let version, let deadline):
            noteVersion(version.rawValue)
            remove(key)
            let stored = StringRecord.make(key: key, value: value)
            stored.header.version = version.rawValue
            stored.header.deadline = deadline?.milliseconds ?? .max
            insert(.string(stored), hash: EntryTable.hash(key), now: now)
        case .delete(let key), .expire(let key):
            remove(key)
        case .deadline(let key, let deadline):
            guard let entry = find(key, hash: EntryTable.hash(key)) else { return }
            setDeadline(deadline, at: entry.index)
        case .legacyPush(let queue, let payload, let atHead, let created):
            let id = nextNumber()
            let message = QueueMessage(
                id: id, place: atHead ? 0 : id, payload: payload, enqueuedAt: loggedSince, attempts: 0)
            guard prepareQueue(queue, created: created, now: now) else { return }
            updateQueue(queue) { value in
                if atHead {
                    value.putAtHead(message)
                } else {
                    value.putInLine(message)
                }
            }
        case .pop(let queue):
            guard holdsQueue(queue) else { return }
            _ = updateQueue(queue) { $0.removeFirstVisible() }
            _ = removeIfEmpty(queue)
        case .enqueue(let queue, let message, let created, let until):
            noteVersion(max(message.id, message.place))
            guard prepareQueue(queue, created: created, now: now) else { return }
            if let until {
                let timer = messageTimers.insert(MessageTimer(queue: queue, id: message.id), deadline: until)
                updateQueue(queue) {
                    $0.addDelayed(QueueValue.Delayed(message: message, until: until, timer: timer))
                }
            } else {
                updateQueue(queue) { $0.putInLine(message) }
            }
        case .lease(let queue, let id, let number, let deadline, let attempts):
            noteVersion(number)
            guard holdsQueue(queue),
                var message = updateQueue(queue, { $0.removeVisible(id) })
            else { return }
            message.attempts = attempts
            let timer = messageTimers.insert(MessageTimer(queue: queue, id: id), deadline: deadline)
            updateQueue(queue) {
                $0.addLease(
                    QueueValue.Lease(message: message, number: number, deadline: deadline, timer: timer))
            }
        case .acknowledge(let queue, let id):
            guard removeLease(id, from: queue) != nil else { return }
            _ = removeIfEmpty(queue)
        case .release(let queue, let id, let attempts):
            guard var message = removeLease(id, from: queue) else { return }
            message.attempts = attempts
            updateQueue(queue) { $0.putInLine(message) }
        case .extend(let queue, let id, let deadline):
            guard holdsQueue(queue), let timer = leaseTimer(of: id, in: queue) else {
                return
            }
            messageTimers.update(timer, deadline: deadline)
            updateQueue(queue) { _ = $0.moveLease(id, to: deadline) }
        case .reveal(let queue, let id, let place):
            noteVersion(place)
            guard holdsQueue(queue),
                let delayed = updateQueue(queue, { $0.removeDelayed(id) })
            else { return }
            if let timer = delayed.timer {
                messageTimers.remove(timer)
            }
            var message = delayed.message
            message.place = place
            updateQueue(queue) { $0.putInLine(message) }
        case .transfer(let queue, let id, let destination, let place, let created):
            noteVersion(place)
            guard var message = removeAnywhere(id, from: queue) else { return }
            _ = removeIfEmpty(queue)
            guard let destination, prepareQueue(destination, created: created, now: now) else { return }
            message.place = place
            updateQueue(destination) { $0.putInLine(message) }
        case .policy(let queue, let policy):
            policies[queue] = policy
        }
    }

    /// Adds a string key read from a snapshot. O(log n).
    mutating func restore(
        _ key: Key, string value: Payload, version: Version, deadline: Timestamp?, now: Timestamp
    ) {
        noteVersion(version.rawValue)
        remove(key)
        let stored = StringRecord.make(key: key, value: value)
        stored.header.version = version.rawValue
        stored.header.deadline = deadline?.milliseconds ?? .max
        insert(.string(stored), hash: EntryTable.hash(key), now: now)
    }

    /// Adds a queue key read from a snapshot. O(log n), and O(log n) more per leased or
    /// delayed message.
    mutating func restore(
        _ key: Key, queue value: QueueValue, version: Version, deadline: Timestamp?, now: Timestamp
    ) {
        noteVersion(version.rawValue)
        remove(key)
        let stored = QueueRecord(key: key, version: version.rawValue, value: value)
        stored.deadline = deadline?.milliseconds ?? .max
        insert(.queue(stored), hash: EntryTable.hash(key), now: now)
    }

    /// Sets a policy read from a snapshot.
    mutating func restorePolicy(_ policy: QueuePolicy, of queue: Key) {
        policies[queue] = policy
    }

    /// Sets the counters a snapshot saved, before its keys are restored.
    mutating func restoreCounters(lastVersion: UInt64, lastEventID: UInt64) {
        noteVersion(lastVersion)
        self.lastEventID = max(self.lastEventID, lastEventID)
    }

    /// Makes `queue` hold a queue for a message the log stores there: as it is, or created
    /// (with `created`, or a new version) in place of what it held. `false` only for a log
    /// that does not fit the state.
    private mutating func prepareQueue(_ queue: Key, created: Version?, now: Timestamp) -> Bool {
        if holdsQueue(queue) { return true }
        remove(queue)
        let version: Version
        if let created {
            noteVersion(created.rawValue)
            version = created
        } else {
            version = nextVersion()
        }
        let record = QueueRecord(key: queue, version: version.rawValue, value: QueueValue())
        insert(.queue(record), hash: EntryTable.hash(queue), now: now)
        return true
    }

    /// The timer of the lease of message `id` of `queue`, if it is leased.
    private func leaseTimer(of id: UInt64, in queue: Key) -> MessageTimers.Handle? {
        queueValue(queue)?.leases[id]?.timer
    }

    /// Removes message `id` from `queue` whatever its state there, with its timer; the queue
    /// may be left empty.
    private mutating func removeAnywhere(_ id: UInt64, from queue: Key) -> QueueMessage? {
        guard holdsQueue(queue) else { return nil }
        if let message = updateQueue(queue, { $0.removeVisible(id) }) {
            return message
        }
        if let message = removeLease(id, from: queue) {
            return message
        }
        guard let delayed = updateQueue(queue, { $0.removeDelayed(id) }) else { return nil }
        if let timer = delayed.timer {
            messageTimers.remove(timer)
        }
        return delayed.message
    }
}
