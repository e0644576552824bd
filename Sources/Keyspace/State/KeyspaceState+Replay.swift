extension KeyspaceState {
    /// The keys and counters a snapshot saves, as they are now. O(1): the tables are shared
    /// until the next change to each, which then copies that one table (a 64th of the keys),
    /// and the ordered index's chunks likewise (one chunk of at most 1 024 keys).
    func capture() -> KeyspaceCapture {
        KeyspaceCapture(entries: entries, order: order, lastVersion: lastVersion, lastEventID: lastEventID)
    }

    /// Redoes a change read from the log, as it was made: no change recorded, no clock, no
    /// expiry (deadlines are absolute; keys past theirs are expired once the whole log is
    /// redone). A change that does not fit the state, which only a damaged log could hold, is
    /// ignored. O(log n).
    mutating func apply(_ record: JournalRecord) {
        lastEventID = max(lastEventID, record.lastEventID)
        switch record.change {
        case .set(let key, let value, let version, let deadline):
            noteVersion(version.rawValue)
            remove(key)
            insert(Entry(value: .string(value), version: version, deadline: deadline), forKey: key)
        case .delete(let key), .expire(let key):
            remove(key)
        case .deadline(let key, let deadline):
            guard let entry = entries[key] else { return }
            setDeadline(deadline, of: entry, forKey: key)
        case .push(let queue, let message, let atHead, let created):
            if case .queue = entries[queue]?.value {
                updateQueue(queue) { value in
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
            insert(Entry(value: .queue(value), version: version), forKey: queue)
        case .pop(let queue):
            guard case .queue = entries[queue]?.value else { return }
            let remaining = updateQueue(queue) { value in
                _ = value.removeFirst()
                return value.messages.count
            }
            if remaining == 0 {
                remove(queue)
            }
        }
    }

    /// Adds a key read from a snapshot. O(log n).
    mutating func restore(_ key: Key, value: Entry.Value, version: Version, deadline: Timestamp?) {
        noteVersion(version.rawValue)
        remove(key)
        insert(Entry(value: value, version: version, deadline: deadline), forKey: key)
    }

    /// Sets the counters a snapshot saved, before its keys are restored.
    mutating func restoreCounters(lastVersion: UInt64, lastEventID: UInt64) {
        noteVersion(lastVersion)
        self.lastEventID = max(self.lastEventID, lastEventID)
    }
}
