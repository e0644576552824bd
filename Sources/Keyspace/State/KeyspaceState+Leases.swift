import Plumbing

extension KeyspaceState {
    /// Leases the head of `queue`'s line until `deadline`: it leaves the line, stays in the
    /// queue, and counts one more attempt. O(log n).
    mutating func leaseFirstVisible(of queue: Key, until deadline: Timestamp) -> LeaseGrant {
        guard let head = firstVisibleID(of: queue) else {
            preconditionFailure("leasing from a queue with no visible message")
        }
        let number = nextNumber()
        let timer = messageTimers.insert(MessageTimer(queue: queue, id: head), deadline: deadline)
        let message = updateQueue(queue) { value -> QueueMessage in
            guard var message = value.removeFirstVisible() else { preconditionFailure("the head vanished") }
            message.attempts += 1
            value.addLease(
                QueueValue.Lease(message: message, number: number, deadline: deadline, timer: timer))
            return message
        }
        record(
            .lease(
                queue: queue, id: message.id, number: number, deadline: deadline, attempts: message.attempts))
        return LeaseGrant(message: message, number: number, deadline: deadline)
    }

    /// Acknowledges the leases named by `references` (`nil`: a receipt never given out for this
    /// queue): each one current is removed with its message. A lease past its deadline is
    /// ended as its timer would have, and reported expired. O(references × log n).
    mutating func acknowledge(_ references: [LeaseReference?], in queue: Key, now: Timestamp)
        throws(KeyspaceError) -> [LeaseStatus]
    {
        _ = try visibleLength(queue, now: now)
        return references.map { reference in
            guard let reference else { return .unknown }
            guard let lease = currentLease(reference, in: queue) else { return .expired }
            guard lease.deadline > now else {
                endLease(of: reference.message, in: queue, reason: .expired, now: now)
                return .expired
            }
            removeLease(reference.message, from: queue)
            let emptied = removeIfEmpty(queue)
            record(.acknowledge(queue: queue, id: reference.message, emptied: emptied))
            return .acknowledged
        }
    }

    /// Moves the end of a current lease to `visibility` from now, or with zero ends it now
    /// (the message goes back in line, or to the dead-letter queue); returns when the message
    /// is visible again. O(log n).
    mutating func changeVisibility(
        of reference: LeaseReference, in queue: Key, to visibility: Duration, now: Timestamp
    ) throws(KeyspaceError) -> Timestamp {
        try QueueLimits.validateVisibility(visibility, allowsZero: true)
        _ = try visibleLength(queue, now: now)
        guard let lease = currentLease(reference, in: queue) else { throw .leaseExpired(queue: queue) }
        guard lease.deadline > now else {
            endLease(of: reference.message, in: queue, reason: .expired, now: now)
            throw .leaseExpired(queue: queue)
        }
        guard visibility > .zero else {
            endLease(of: reference.message, in: queue, reason: .released, now: now)
            return now
        }
        let deadline = now + visibility
        if let timer = lease.timer {
            messageTimers.update(timer, deadline: deadline)
        }
        updateQueue(queue) { _ = $0.moveLease(reference.message, to: deadline) }
        record(.extend(queue: queue, id: reference.message, deadline: deadline))
        return deadline
    }

    /// Puts back the leases of a receive whose consumer never got them: each still current
    /// goes back in line at its place, its attempt not counted.
    mutating func giveBack(_ references: [LeaseReference], in queue: Key, now: Timestamp) {
        guard case .queue? = liveEntry(queue, now: now)?.value else { return }
        for reference in references {
            guard currentLease(reference, in: queue) != nil,
                var message = removeLease(reference.message, from: queue)
            else { continue }
            message.attempts -= 1
            updateQueue(queue) { $0.putInLine(message) }
            record(
                .release(
                    queue: queue, id: message.id, attempts: message.attempts, reason: .released, lateness: nil
                ))
        }
        serveWaiters(of: queue, now: now)
    }

    /// Ends the lease of message `id` of `queue`: the message goes back in line at its place,
    /// to a waiting consumer if there is one, or, when the queue's policy says it had its last
    /// allowed lease, to the tail of the dead-letter queue. `lateness`: how late its timer ran.
    mutating func endLease(
        of id: UInt64, in queue: Key, reason: EventReason, lateness: Int64? = nil, now: Timestamp
    ) {
        guard let message = removeLease(id, from: queue) else { return }
        if let policy = policies[queue], let limit = policy.maxReceives, let destination = policy.deadLetter,
            message.attempts >= limit, !holdsString(destination, now: now)
        {
            let emptied = removeIfEmpty(queue)
            var moved = message
            moved.place = nextNumber()
            arrive(moved, in: destination, from: .deadLettered(from: queue, emptied: emptied), now: now)
            return
        }
        updateQueue(queue) { $0.putInLine(message) }
        record(.release(queue: queue, id: id, attempts: message.attempts, reason: reason, lateness: lateness))
        serveWaiters(of: queue, now: now)
    }

    /// Makes the delayed message `id` of `queue` visible, at the tail of the line: its delay
    /// ended `lateness` milliseconds ago.
    mutating func reveal(_ id: UInt64, in queue: Key, lateness: Int64, now: Timestamp) {
        guard let delayed = updateQueue(queue, { $0.removeDelayed(id) }) else { return }
        if let timer = delayed.timer {
            messageTimers.remove(timer)
        }
        var message = delayed.message
        message.place = nextNumber()
        updateQueue(queue) { $0.putInLine(message) }
        record(.reveal(queue: queue, id: id, place: message.place, lateness: lateness))
        serveWaiters(of: queue, now: now)
    }

    /// The id of the head of `queue`'s line. (Reading the queue in a function of its own lets
    /// the copy go before the queue changes, which would otherwise copy it whole.)
    private func firstVisibleID(of queue: Key) -> UInt64? {
        guard case .queue(let value)? = entries[queue]?.value else { return nil }
        return value.visible.first?.id
    }

    /// The lease `reference` names, if it is the current lease of its message in `queue`.
    private func currentLease(_ reference: LeaseReference, in queue: Key) -> QueueValue.Lease? {
        guard case .queue(let value)? = entries[queue]?.value, let lease = value.leases[reference.message],
            lease.number == reference.lease
        else { return nil }
        return lease
    }

    /// Removes the lease of message `id` of `queue` and its timer; returns the message, which
    /// the caller puts somewhere (the queue may be left empty for a moment).
    @discardableResult
    mutating func removeLease(_ id: UInt64, from queue: Key) -> QueueMessage? {
        guard case .queue? = entries[queue]?.value, let lease = updateQueue(queue, { $0.removeLease(id) })
        else {
            return nil
        }
        if let timer = lease.timer {
            messageTimers.remove(timer)
        }
        return lease.message
    }
}
