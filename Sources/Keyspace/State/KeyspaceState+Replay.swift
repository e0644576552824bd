extension KeyspaceState {
    /// The keys and counters a snapshot saves, as they are now. O(1): the slab's pages and the
    /// hash tables are shared until the next change to each, which then copies that one page
    /// (4 096 slots) or table (a 64th of the keys), and the ordered index's chunks likewise
    /// (one chunk of at most 1 024 keys).
    func capture() -> KeyspaceCapture {
        KeyspaceCapture(entries: entries, order: order, lastVersion: lastVersion, lastEventID: lastEventID)
    }

    /// Redoes a change read from the log, as it was made: no change recorded, no clock, no
    /// expiry (deadlines are absolute; keys past theirs are expired once the whole log is
    /// redone). A change that does not fit the state, which only a damaged log could hold, is
    /// ignored. `now` is when the load began, for the eviction policy's first word of each key.
    /// O(log n).
    mutating func apply(_ record: JournalRecord, now: Timestamp) {
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
        case .push(let queue, let message, let atHead, let created):
            let hash = EntryTable.hash(queue)
            if let entry = find(queue, hash: hash), entry.type == .queue {
                updateQueue(entry.index) { value in
                    if atHead {
                        value.prepend(message)
                    } else {
                        value.append(message)
                    }
                }
                return
            }
            remove(queue)
            let version: Version
            if let created {
                noteVersion(created.rawValue)
                version = created
            } else {
                version = nextVersion()
            }
            var value = QueueValue()
            value.append(message)
            insert(
                .queue(QueueRecord(key: queue, version: version.rawValue, value: value)), hash: hash, now: now
            )
        case .pop(let queue):
            guard let entry = find(queue, hash: EntryTable.hash(queue)), entry.type == .queue else { return }
            let remaining = updateQueue(entry.index) { value in
                _ = value.removeFirst()
                return value.messages.count
            }
            if remaining == 0 {
                remove(entry.index)
            }
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

    /// Adds a queue key read from a snapshot. O(log n).
    mutating func restore(
        _ key: Key, queue value: QueueValue, version: Version, deadline: Timestamp?, now: Timestamp
    ) {
        noteVersion(version.rawValue)
        remove(key)
        let stored = QueueRecord(key: key, version: version.rawValue, value: value)
        stored.deadline = deadline?.milliseconds ?? .max
        insert(.queue(stored), hash: EntryTable.hash(key), now: now)
    }

    /// Sets the counters a snapshot saved, before its keys are restored.
    mutating func restoreCounters(lastVersion: UInt64, lastEventID: UInt64) {
        noteVersion(lastVersion)
        self.lastEventID = max(self.lastEventID, lastEventID)
    }
}
