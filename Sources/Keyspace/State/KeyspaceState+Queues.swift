extension KeyspaceState {
    /// Appends `message` to `queue`, or hands it to the oldest waiting consumer. O(log n)
    /// when it creates the queue.
    mutating func push(_ message: Payload, to queue: Key, now: Timestamp) throws(KeyspaceError)
        -> PushOutcome
    {
        try place(message, in: queue, atHead: false, now: now)
    }

    /// Puts back a message whose hand-off failed: to the next waiting consumer, or at the head
    /// of its queue, where it was the oldest.
    mutating func giveBack(_ message: Payload, to queue: Key, now: Timestamp) throws(KeyspaceError)
        -> PushOutcome
    {
        try place(message, in: queue, atHead: true, now: now)
    }

    /// Pops the oldest message of the first non-empty queue, in the order given.
    ///
    /// With a `receiver`, nothing to pop registers it on every queue instead, unless one has
    /// `limit` receivers registered already, and a message is only taken once the receiver is
    /// claimed for it; `.gone` when it can no longer be. O(number of queues), and O(log n)
    /// when the pop empties its queue.
    mutating func pop(
        from queues: [Key], registering receiver: (any MessageReceiver)?, waitingAtMost limit: Int,
        now: Timestamp
    ) throws(KeyspaceError) -> PopOutcome {
        var first: (queue: Key, index: UInt32)?
        for queue in queues {
            // Every queue is checked, so a string among them is refused even after a hit.
            if let found = try findQueue(queue, now: now), first == nil {
                first = (queue, found.index)
            }
        }
        guard let (queue, index) = first else {
            guard let receiver else { return .empty }
            try register(receiver, on: queues, waitingAtMost: limit)
            return .waiting
        }
        if let receiver, !receiver.claim() {
            return .gone
        }
        let (message, remaining) = updateQueue(index) { value in
            (value.removeFirst(), value.messages.count)
        }
        guard let message else { preconditionFailure("a stored queue is never empty") }
        if remaining == 0 {
            remove(index)
        }
        record(.pop(queue: queue, emptied: remaining == 0))
        return .popped(PoppedMessage(queue: queue, message: message))
    }

    /// The length and waiting consumers of `queue`.
    mutating func queueInfo(_ queue: Key, now: Timestamp) throws(KeyspaceError) -> QueueInfo {
        QueueInfo(length: try findQueue(queue, now: now)?.length ?? 0, consumers: waitingCount(on: queue))
    }

    /// The oldest `limit` messages of `queue`, left in place. O(limit).
    mutating func peek(_ queue: Key, limit: Int, now: Timestamp) throws(KeyspaceError) -> [Payload] {
        guard let found = try findQueue(queue, now: now) else { return [] }
        return updateQueue(found.index) { Array($0.messages.prefix(limit)) }
    }

    /// The slot and number of messages of `queue`, `nil` when absent or expired; a string
    /// there is a type error.
    private mutating func findQueue(_ queue: Key, now: Timestamp) throws(KeyspaceError)
        -> (index: UInt32, length: Int)?
    {
        guard let entry = liveEntry(queue, now: now) else { return nil }
        guard case .queue(let record) = entries[entry.index] else {
            throw .wrongType(key: queue, actual: entry.type)
        }
        return (entry.index, record.value.messages.count)
    }

    /// Hands a message to the oldest waiting consumer of an empty queue, or stores it at the
    /// tail (or head) of the queue, creating the queue when absent.
    private mutating func place(_ message: Payload, in queue: Key, atHead: Bool, now: Timestamp)
        throws(KeyspaceError) -> PushOutcome
    {
        guard let found = try findQueue(queue, now: now) else {
            if let receiver = claimOldestWaiter(on: queue) {
                record(.handOff(queue: queue))
                return .handed(to: receiver)
            }
            var value = QueueValue()
            value.append(message)
            let stored = QueueRecord(key: queue, version: 0, value: value)
            if !atHead {
                // A message given back was held a moment ago: it is never refused for room.
                _ = try makeRoom(
                    for: Self.cost(of: .queue(stored)), newKeyHash: nil, keeping: nil, now: now)
            }
            let version = nextVersion()
            stored.version = version.rawValue
            insert(.queue(stored), hash: EntryTable.hash(queue), now: now)
            record(.push(queue: queue, message: message, atHead: atHead, created: version))
            return .stored(length: 1)
        }
        if !atHead {
            _ = try makeRoom(
                for: MemoryCost.message(message), newKeyHash: nil, keeping: found.index, now: now)
        }
        let length = updateQueue(found.index) { value in
            if atHead {
                value.prepend(message)
            } else {
                value.append(message)
            }
            return value.messages.count
        }
        record(.push(queue: queue, message: message, atHead: atHead, created: nil))
        return .stored(length: length)
    }
}
