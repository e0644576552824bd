import Plumbing

extension KeyspaceState {
    /// Sets or clears the deadline of `key`; `false` when absent. O(log n).
    mutating func setDeadline(_ deadline: Timestamp?, forKey key: Key, now: Timestamp) -> Bool {
        guard let entry = liveEntry(key, now: now) else { return false }
        record(.deadline(key: key, deadline: deadline, hadDeadline: entry.deadline != nil))
        setDeadline(deadline, of: entry, forKey: key)
        return true
    }

    /// Removes up to `limit` keys whose deadline is at or before `now`, earliest first.
    ///
    /// O(limit × log n). Records the next deadline as the one the expirer will sleep until.
    mutating func expireDue(now: Timestamp, limit: Int) -> ExpiryPass {
        var expired: [Key] = []
        while expired.count < limit, let (deadline, key, _) = deadlines.first, deadline <= now {
            expire(key, deadline: deadline, now: now)
            expired.append(key)
        }
        let next = deadlines.first?.deadline
        expirerWakeup = next
        let hasMoreDue = next.map { $0 <= now } ?? false
        return ExpiryPass(expired: expired, nextDeadline: next, hasMoreDue: hasMoreDue)
    }

    /// Removes `key`, found at `now` past its `deadline`. O(log n).
    mutating func expire(_ key: Key, deadline: Timestamp, now: Timestamp) {
        remove(key)
        record(.expire(key: key, lateness: max(now.milliseconds - deadline.milliseconds, 0)))
    }
}
