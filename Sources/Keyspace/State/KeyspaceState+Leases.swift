import Plumbing

extension KeyspaceState {
    /// Leases up to `limit` messages at the head of `queue`'s line until `deadline`: they leave
    /// the line, stay in the queue, and count one more attempt each. One lookup of the queue,
    /// and O(log n) per message.
    mutating func leaseFirstVisible(_ limit: Int, of queue: Key, until deadline: Timestamp) -> [LeaseGrant] {
        guard let index = entries.index(of: queue, hash: EntryTable.hash(queue)) else {
            preconditionFailure("leasing from a queue that is not there")
        }
        let taken = updateQueue(index) { $0.removeFirstVisible(upTo: limit) }
        var leases: [QueueValue.Lease] = []
        leases.reserveCapacity(taken.count)
        for var message in taken {
            message.attempts += 1
            let timer = messageTimers.insert(MessageTimer(queue: queue, id: message.id), deadline: deadline)
            leases.append(
                QueueValue.Lease(message: message, number: nextNumber(), deadline: deadline, timer: timer))
        }
        // The slot is the same: taking timers moves no key.
        updateQueue(index) { value in
            for lease in leases {
                value.addLease(lease)
            }
        }
        return leases.map { lease in
            record(
                .lease(
                    queue: queue, id: lease.message.id, number: lease.number, deadline: deadline,
                    attempts: lease.message.attempts))
            return LeaseGrant(message: lease.message, number: lease.number, deadline: deadline)
        }
    }

    /// Acknowledges the leases named by `references` (`nil`: a receipt never given out for this
    /// queue): each one current is removed with its message. A lease past its deadline is
    /// ended as its timer would have, and reported expired. One lookup of the queue per
    /// reference, O(log n) each.
    mutating func acknowledge(_ references: [LeaseReference?], in queue: Key, now: Timestamp)
        throws(KeyspaceError) -> [LeaseStatus]
    {
        _ = try visibleLength(queue, now: now)
        return references.map { reference in
            guard let reference else { return .unknown }
            let step = updateQueueIfPresent(queue) { value -> AcknowledgeStep in
                guard let lease = value.leases[reference.message], lease.number == reference.lease else {
                    return .ended
                }
                guard lease.deadline > now else { return .due }
                _ = value.removeLease(reference.message)
                return .removed(timer: lease.timer, emptied: value.count == 0)
            }
            switch step {
            case nil, .ended?:
                return .expired
            case .due?:
                endLease(of: reference.message, in: queue, reason: .expired, now: now)
                return .expired
            case .removed(let timer, let emptied)?:
                if let timer {
                    messageTimers.remove(timer)
                }
                if emptied {
                    remove(queue)
                }
                record(.acknowledge(queue: queue, id: reference.message, emptied: emptied))
                return .acknowledged
            }
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
        guard liveEntry(queue, now: now) != nil, holdsQueue(queue) else { return }
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

    /// The lease `reference` names, if it is the current lease of its message in `queue`.
    private func currentLease(_ reference: LeaseReference, in queue: Key) -> QueueValue.Lease? {
        guard let value = queueValue(queue), let lease = value.leases[reference.message],
            lease.number == reference.lease
        else { return nil }
        return lease
    }

    /// Removes the lease of message `id` of `queue` and its timer; returns the message, which
    /// the caller puts somewhere (the queue may be left empty for a moment).
    @discardableResult
    mutating func removeLease(_ id: UInt64, from queue: Key) -> QueueMessage? {
        guard holdsQueue(queue), let lease = updateQueue(queue, { $0.removeLease(id) })
        else {
            return nil
        }
        if let timer = lease.timer {
            messageTimers.remove(timer)
        }
        return lease.message
    }
}

/// What an acknowledgement found of its lease.
private enum AcknowledgeStep {
    /// The lease is no longer current.
    case ended
    /// The lease is current but past its deadline: it ends now.
    case due
    /// The lease was current: its message is removed; `emptied` when it was the queue's last.
    case removed(timer: MessageTimers.Handle?, emptied: Bool)
}
