import Plumbing

extension KeyspaceState {
    /// Sets or clears the deadline of `key`; `false` when absent. O(log n).
    mutating func setDeadline(_ deadline: Timestamp?, forKey key: Key, now: Timestamp) -> Bool {
        guard let entry = liveEntry(key, now: now) else { return false }
        record(.deadline(key: key, deadline: deadline, hadDeadline: entry.deadline != nil))
        setDeadline(deadline, at: entry.index)
        return true
    }

    /// Removes up to `limit` keys whose deadline is at or before `now`, earliest first.
    ///
    /// O(limit × log n). Records the next deadline as the one the expirer will sleep until.
    mutating func expireDue(now: Timestamp, limit: Int) -> ExpiryPass {
        var expired: [Key] = []
        while expired.count < limit, let (deadline, index, _) = deadlines.first, deadline <= now {
            let key = entries[index].key
            expire(index, key: key, deadline: deadline, now: now)
            expired.append(key)
        }
        let next = deadlines.first?.deadline
        expirerWakeup = next
        let hasMoreDue = next.map { $0 <= now } ?? false
        return ExpiryPass(expired: expired, nextDeadline: next, hasMoreDue: hasMoreDue)
    }

    /// Removes `key`, in slot `index`, found at `now` past its `deadline`. O(log n).
    mutating func expire(_ index: UInt32, key: Key, deadline: Timestamp, now: Timestamp) {
        remove(index)
        record(.expire(key: key, lateness: max(now.milliseconds - deadline.milliseconds, 0)))
    }
}
