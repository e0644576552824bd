import Plumbing

extension KeyspaceState {
    /// Sets or clears the deadline of `key`; `false` when absent. O(log n).
    mutating func setDeadline(_ deadline: Timestamp?, forKey key: Key, now: Timestamp) -> Bool {
        guard let entry = liveEntry(key, now: now) else { return false }
        record(.deadline(key: key, deadline: deadline, hadDeadline: entry.deadline != nil))
        setDeadline(deadline, at: entry.index)
        return true
    }

    /// Removes up to `limit` keys whose deadline is at or before `now`, earliest first, and
    /// serves up to `limit` message timers due: leases that end, delays that end.
    ///
    /// O(limit × log n). Records the next deadline as the one the expirer will sleep until.
    mutating func expireDue(now: Timestamp, limit: Int) -> ExpiryPass {
        var expired: [Key] = []
        while expired.count < limit, let (deadline, index, _) = deadlines.first, deadline <= now {
            let key = entries[index].key
            expire(index, key: key, deadline: deadline, now: now)
            expired.append(key)
        }
        var served = 0
        while served < limit, let (deadline, timer, handle) = messageTimers.first, deadline <= now {
            serve(timer, handle: handle, deadline: deadline, now: now)
            served += 1
        }
        let next = [deadlines.first?.deadline, messageTimers.first?.deadline].compactMap(\.self).min()
        expirerWakeup = next
        let hasMoreDue = next.map { $0 <= now } ?? false
        return ExpiryPass(expired: expired, nextDeadline: next, hasMoreDue: hasMoreDue)
    }

    /// Removes `key`, in slot `index`, found at `now` past its `deadline`. O(log n).
    mutating func expire(_ index: UInt32, key: Key, deadline: Timestamp, now: Timestamp) {
        remove(index)
        record(.expire(key: key, lateness: max(now.milliseconds - deadline.milliseconds, 0)))
    }

    /// Serves a message timer due at `deadline`: ends its lease, or its delay.
    private mutating func serve(
        _ timer: MessageTimer, handle: MessageTimers.Handle, deadline: Timestamp, now: Timestamp
    ) {
        let lateness = max(now.milliseconds - deadline.milliseconds, 0)
        if isLeaseTimer(timer, handle: handle) {
            endLease(of: timer.id, in: timer.queue, reason: .expired, lateness: lateness, now: now)
        } else {
            reveal(timer.id, in: timer.queue, lateness: lateness, now: now)
        }
    }

    /// Whether `timer` ends a lease (else a delay). A function of its own, so that the copy
    /// of the queue it reads is gone before the queue changes (a copy alive then would make the
    /// change copy the whole queue).
    private func isLeaseTimer(_ timer: MessageTimer, handle: MessageTimers.Handle) -> Bool {
        guard let value = queueValue(timer.queue) else {
            preconditionFailure("a message timer outlived its queue")
        }
        if value.leases[timer.id]?.timer == handle { return true }
        precondition(value.delayed[timer.id]?.timer == handle, "a message timer outlived its message")
        return false
    }
}
