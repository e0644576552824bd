import Plumbing

extension KeyspaceState {
    /// Where a message arriving in a queue comes from, which decides what the log records.
    enum Arrival {
        /// A new message, or one given back by a consumer that could not take it: a `push`.
        case pushed
        /// Moved from `source`; `emptied` when it was the last message there.
        case moved(from: Key, emptied: Bool)
        /// Dead-lettered from `source`; `emptied` when it was the last message there.
        case deadLettered(from: Key, emptied: Bool)

        /// The transfer that brought `message` to `destination` (`nil`: to a consumer), when it
        /// came from another queue; `nil` for a push.
        func transfer(of message: QueueMessage, to destination: Key?, created: Version?) -> Transfer? {
            let (kind, source, emptied): (Transfer.Kind, Key, Bool)
            switch self {
            case .pushed: return nil
            case .moved(let from, let wasLast): (kind, source, emptied) = (.move, from, wasLast)
            case .deadLettered(let from, let wasLast): (kind, source, emptied) = (.deadLetter, from, wasLast)
            }
            return Transfer(
                kind: kind, source: source, id: message.id, emptied: emptied, destination: destination,
                place: message.place, created: created)
        }
    }

    /// Appends a new message to `queue`, or hands it to the oldest waiting consumer; with a
    /// positive `delay`, stores it invisible until then. O(log n) when it creates the queue.
    ///
    /// Like any write, a push that stores its message makes room for it (and the queue it
    /// creates) under the memory limit first, evicting strings by the policy, or is refused
    /// with `.memoryFull`: queues themselves are never evicted. A message that goes straight to
    /// a waiting consumer is not refused: consumers are never refused for room.
    mutating func push(_ payload: Payload, to queue: Key, delay: Duration?, now: Timestamp)
        throws(KeyspaceError) -> PushOutcome
    {
        let visible = try visibleLength(queue, now: now)
        let isPresent = visible != nil
        let isDelayed = delay.map { $0 > .zero } ?? false
        let goesToConsumer = !isDelayed && visible ?? 0 == 0 && waitingCount(on: queue) > 0
        if !goesToConsumer {
            let messageCost = isDelayed ? MemoryCost.delayed(payload) : MemoryCost.message(payload)
            _ = try makeRoom(
                for: messageCost + (isPresent ? 0 : Self.emptyQueueCost(queue)), newKeyHash: nil,
                keeping: nil, now: now)
        }
        let id = nextNumber()
        let message = QueueMessage(id: id, place: id, payload: payload, enqueuedAt: now, attempts: 0)
        if let delay, delay > .zero {
            let until = now + delay
            let created = isPresent ? nil : createQueue(queue, now: now)
            let timer = messageTimers.insert(MessageTimer(queue: queue, id: id), deadline: until)
            updateQueue(queue) {
                $0.addDelayed(QueueValue.Delayed(message: message, until: until, timer: timer))
            }
            record(.push(queue: queue, message: message, created: created, until: until))
            return .stored(length: length(of: queue))
        }
        let isStored = arrive(message, in: queue, from: .pushed, now: now) == queue
        let length = length(of: queue)
        return isStored && !isLeased(id, in: queue) ? .stored(length: length) : .handed(length: length)
    }

    /// Puts back a message whose consumer could not take it: to the next waiting consumer, or
    /// in line where it was.
    mutating func giveBack(_ popped: PoppedMessage, now: Timestamp) throws(KeyspaceError) {
        _ = try visibleLength(popped.queue, now: now)
        guard let message = popped.stored else {
            // A message the keyspace did not give out: at the head, where a pop takes it next.
            let id = nextNumber()
            let head = firstVisiblePlace(of: popped.queue)
            let place = head.map { max($0, 1) - 1 } ?? id
            let message = QueueMessage(
                id: id, place: place, payload: popped.message, enqueuedAt: now, attempts: 0)
            arrive(message, in: popped.queue, from: .pushed, now: now)
            return
        }
        arrive(message, in: popped.queue, from: .pushed, now: now)
    }

    /// Puts back what a consumer claimed under the lock turned out unable to take: a popped
    /// message to the next waiting consumer or in line where it was, leases back in line.
    mutating func putBack(_ handed: Handed, now: Timestamp) {
        switch handed {
        case .popped(let queue, let message):
            // A queue that this pop emptied, and that came to hold a string since, cannot take
            // the message back: it is dropped, as a pop whose consumer crashed would lose it.
            guard !holdsString(queue, now: now) else { return }
            arrive(message, in: queue, from: .pushed, now: now)
        case .received(let queue, let leases):
            giveBack(
                leases.map { LeaseReference(message: $0.message.id, lease: $0.number) }, in: queue, now: now)
        case .moved, .failed:
            break
        }
    }

    /// Takes from the first of `queues` with a visible message, in the order given, what
    /// `consumption` says.
    ///
    /// With a `receiver`, nothing visible registers it on every queue instead, unless one has
    /// `limit` receivers registered already, and messages are only taken once the receiver is
    /// claimed for them; `.gone` when it can no longer be. O(number of queues + messages taken),
    /// and O(log n) when it empties or creates a queue.
    mutating func consume(
        _ consumption: Consumption, from queues: [Key], registering receiver: (any MessageReceiver)?,
        waitingAtMost limit: Int, now: Timestamp
    ) throws(KeyspaceError) -> Consumed {
        try consumption.validate(from: queues)
        if case .move(let destination) = consumption {
            _ = try visibleLength(destination, now: now)
        }
        var first: Key?
        for queue in queues {
            // Every queue is checked, so a string among them is refused even after a hit.
            if let length = try visibleLength(queue, now: now), length > 0, first == nil {
                first = queue
            }
        }
        guard let queue = first else {
            guard let receiver else { return .empty }
            try register(receiver, on: queues, for: consumption, waitingAtMost: limit)
            return .waiting
        }
        if let receiver, !receiver.claim() {
            return .gone
        }
        return .handed(take(consumption, from: queue, now: now))
    }

    /// The state of `queue`: its messages by state and the consumers waiting on it.
    mutating func queueInfo(_ queue: Key, now: Timestamp) throws(KeyspaceError) -> QueueInfo {
        guard try visibleLength(queue, now: now) != nil, let value = queueValue(queue) else {
            return QueueInfo(length: 0, consumers: waitingCount(on: queue))
        }
        let counts = value.counts
        return QueueInfo(
            length: value.count, consumers: waitingCount(on: queue), visible: counts.visible,
            inFlight: counts.inFlight, delayed: counts.delayed)
    }

    /// The oldest `limit` visible messages of `queue`, left in place. O(limit).
    mutating func peek(_ queue: Key, limit: Int, now: Timestamp) throws(KeyspaceError) -> [QueuedMessage] {
        guard try visibleLength(queue, now: now) != nil, let value = queueValue(queue) else { return [] }
        return value.firstVisible(limit).map(\.queued)
    }

    /// The number of visible messages in `queue`, `nil` when absent or expired; a string there
    /// is a type error.
    func visibleLengthIfQueue(_ queue: Key) -> Int? {
        queueValue(queue)?.visible.count
    }

    /// The number of visible messages in `queue`, `nil` when absent or expired; a string there
    /// is a type error.
    mutating func visibleLength(_ queue: Key, now: Timestamp) throws(KeyspaceError) -> Int? {
        guard let entry = liveEntry(queue, now: now) else { return nil }
        guard case .queue(let record) = entries[entry.index] else {
            throw .wrongType(key: queue, actual: entry.type)
        }
        return record.value.visible.count
    }

    /// Takes what `consumption` says from `queue`, which has a visible message, for a consumer
    /// already claimed.
    mutating func take(_ consumption: Consumption, from queue: Key, now: Timestamp) -> Handed {
        switch consumption {
        case .pop:
            let (message, emptied) = removeFirstVisible(of: queue)
            record(.pop(queue: queue, emptied: emptied))
            return .popped(queue: queue, message: message)
        case .receive(let visibility, let limit):
            let deadline = now + (visibility ?? policy(of: queue).visibility)
            return .received(queue: queue, leases: leaseFirstVisible(limit, of: queue, until: deadline))
        case .move(let destination):
            if holdsString(destination, now: now) {
                return .failed(.wrongType(key: destination, actual: .string))
            }
            var (message, emptied) = removeFirstVisible(of: queue)
            message.place = nextNumber()
            arrive(message, in: destination, from: .moved(from: queue, emptied: emptied), now: now)
            return .moved(from: queue, message: message, to: destination)
        }
    }

    /// Hands messages in line in `queue` to its waiting consumers, oldest first, as long as
    /// both last: after a message became visible. O(1) when nobody waits.
    mutating func serveWaiters(of queue: Key, now: Timestamp) {
        while visibleLengthIfQueue(queue) ?? 0 > 0, let waiter = claimOldestWaiter(on: queue) {
            handOff(take(waiter.consumption, from: queue, now: now), to: waiter.receiver)
        }
    }

    /// A message arriving in `queue`, which holds no string: handed to the oldest waiting
    /// consumer when the queue has no visible message (through waiting moves to their
    /// destinations), stored in line otherwise. Returns the queue it was stored in (leased there
    /// for a waiting receive), or `nil` when it went to a consumer. One change records it in
    /// the log, whatever happened to it: no crash leaves it in two places or none.
    @discardableResult
    mutating func arrive(_ message: QueueMessage, in queue: Key, from arrival: Arrival, now: Timestamp)
        -> Key?
    {
        var message = message
        var target = queue
        var movers: [(receiver: any MessageReceiver, from: Key)] = []
        defer {
            for mover in movers {
                handOff(.moved(from: mover.from, message: message, to: target), to: mover.receiver)
            }
        }
        // A queue found past its deadline is removed first, so that nothing arrives in it.
        while hasNoVisibleMessage(target, now: now), let waiter = claimOldestWaiter(on: target) {
            switch waiter.consumption {
            case .pop:
                recordLeaving(arrival, message: message)
                record(.handOff(queue: target))
                handOff(.popped(queue: target, message: message), to: waiter.receiver)
                return nil
            case .receive(let visibility, _):
                store(message, in: target, from: arrival, now: now)
                let deadline = now + (visibility ?? policy(of: target).visibility)
                handOff(
                    .received(queue: target, leases: leaseFirstVisible(1, of: target, until: deadline)),
                    to: waiter.receiver)
                return target
            case .move(let destination):
                if holdsString(destination, now: now) {
                    handOff(.failed(.wrongType(key: destination, actual: .string)), to: waiter.receiver)
                    continue
                }
                record(.handOff(queue: target))
                movers.append((waiter.receiver, target))
                message.place = nextNumber()
                target = destination
            }
        }
        store(message, in: target, from: arrival, now: now)
        return target
    }

    /// The place of the head of `queue`'s line, if it has one.
    private func firstVisiblePlace(of queue: Key) -> UInt64? {
        queueValue(queue)?.visible.first?.place
    }

    /// Whether `queue` has no message in line (absent, or found past its deadline and removed,
    /// included).
    private mutating func hasNoVisibleMessage(_ queue: Key, now: Timestamp) -> Bool {
        liveEntry(queue, now: now) == nil || visibleLengthIfQueue(queue) == 0
    }

    /// The number of messages of `queue`, whatever their state; 0 when absent.
    func length(of queue: Key) -> Int {
        queueValue(queue)?.count ?? 0
    }

    /// The bytes `MemoryCost` counts for a queue at `queue` with no message yet: what a push
    /// that creates it needs besides its message.
    static func emptyQueueCost(_ queue: Key) -> Int {
        cost(of: .queue(QueueRecord(key: queue, version: 0, value: QueueValue())))
    }

    /// Creates an empty queue at `queue`, which holds nothing; returns its version. The caller
    /// adds a message before it releases the lock.
    mutating func createQueue(_ queue: Key, now: Timestamp) -> Version {
        let version = nextVersion()
        let record = QueueRecord(key: queue, version: version.rawValue, value: QueueValue())
        insert(.queue(record), hash: EntryTable.hash(queue), now: now)
        return version
    }

    /// Removes `queue` if it holds no message; returns whether it did.
    mutating func removeIfEmpty(_ queue: Key) -> Bool {
        guard let index = entries.index(of: queue, hash: EntryTable.hash(queue)),
            case .queue(let record) = entries[index], record.value.count == 0
        else { return false }
        remove(index)
        return true
    }

    /// Whether `key` holds a queue (expired or not).
    func holdsQueue(_ key: Key) -> Bool {
        guard let index = entries.index(of: key, hash: EntryTable.hash(key)) else { return false }
        return entries[index].type == .queue
    }

    /// Whether `key` holds a string that has not expired.
    mutating func holdsString(_ key: Key, now: Timestamp) -> Bool {
        liveEntry(key, now: now)?.type == .string
    }

    /// Removes and returns the head of `queue`'s line, which has one, and whether that emptied
    /// the queue (then removed).
    private mutating func removeFirstVisible(of queue: Key) -> (QueueMessage, emptied: Bool) {
        guard let message = updateQueue(queue, { $0.removeFirstVisible() }) else {
            preconditionFailure("taking from a queue with no visible message")
        }
        return (message, removeIfEmpty(queue))
    }

    /// Stores an arriving message in line in `queue` (created if absent) and records how it came.
    private mutating func store(_ message: QueueMessage, in queue: Key, from arrival: Arrival, now: Timestamp)
    {
        let isAbsent = entries.index(of: queue, hash: EntryTable.hash(queue)) == nil
        let created: Version? = isAbsent ? createQueue(queue, now: now) : nil
        updateQueue(queue) { $0.putInLine(message) }
        // A push made room before; a move or a dead letter, never refused, makes it after.
        evictToLimit(atMost: MemoryBudget.evictionsPerStep, now: now)
        if let transfer = arrival.transfer(of: message, to: queue, created: created) {
            record(.transfer(transfer))
        } else {
            record(.push(queue: queue, message: message, created: created, until: nil))
        }
    }

    /// Records that an arriving message left the queue it came from for a consumer, when it
    /// came from one.
    private mutating func recordLeaving(_ arrival: Arrival, message: QueueMessage) {
        if let transfer = arrival.transfer(of: message, to: nil, created: nil) {
            record(.transfer(transfer))
        }
    }

    /// Whether message `id` of `queue` is leased.
    private func isLeased(_ id: UInt64, in queue: Key) -> Bool {
        queueValue(queue)?.leases[id] != nil
    }
}

/// What a consumption did, as the keyspace's state reports it.
enum Consumed: Sendable {
    /// It took this for the consumer.
    case handed(Handed)
    /// No queue had a visible message, and no consumer was registered.
    case empty
    /// No queue had a visible message; the consumer now waits on each of them.
    case waiting
    /// A message was there, but the consumer could no longer take it.
    case gone
}
