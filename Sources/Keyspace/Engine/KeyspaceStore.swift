/// The operations the gateway needs from a keyspace, whatever engine is behind them.
///
/// The built-in `KeyspaceEngine` is one; `NATSEngine`, over a NATS JetStream cluster, is
/// another. Every method is safe to call from any thread and never blocks for long.
package protocol KeyspaceStore: Sendable {
    /// The string value of `key` with its version, or `nil` when the key is absent or expired.
    func value(forKey key: Key) throws(KeyspaceError) -> Versioned<Payload>?

    /// Writes a string value; `timeToLive` `nil` makes the key persistent.
    func setValue(
        _ value: Payload, forKey key: Key, timeToLive: Duration?, condition: WriteCondition
    ) throws(KeyspaceError) -> WriteOutcome

    /// Deletes the string at `key`; `false` when the key is absent.
    func removeValue(forKey key: Key, condition: WriteCondition) throws(KeyspaceError) -> Bool

    /// The time to live of `key`, or `nil` when the key is absent.
    func timeToLive(forKey key: Key) throws(KeyspaceError) -> TimeToLive?

    /// Sets (`timeToLive` non-nil) or removes the time to live of `key`; `false` when absent.
    func setTimeToLive(_ timeToLive: Duration?, forKey key: Key) throws(KeyspaceError) -> Bool

    /// One page of the keys starting with `prefix`, after `cursor`, in byte order.
    func keys(prefix: [UInt8], after cursor: Key?, limit: Int) throws(KeyspaceError) -> KeyPage

    /// Appends a message to a queue (created when absent), or hands it to the oldest consumer
    /// waiting on the queue. With a positive `delay`, the message is stored now, invisible, and
    /// joins the tail of the line once `delay` has passed (at most `QueueLimits.maximumDelay`).
    func push(_ message: Payload, to queue: Key, delay: Duration?) throws(KeyspaceError) -> PushOutcome

    /// Takes what `consumption` says from the first of `queues` with a visible message, in the
    /// order given.
    ///
    /// With a `receiver`, which must be claimed for the messages: when no queue has a visible
    /// message, registers it on each (`.waiting`) until a message claims it (and is delivered
    /// to it) or `cancelWait(_:)` is called. Waiting consumers of every consumption are served
    /// first-come, first-served. Throws `.tooManyWaiting` instead of registering when a queue
    /// already has `limit` consumers waiting. Without a receiver, `.empty` when nothing is
    /// visible.
    func consume(
        _ consumption: Consumption, from queues: [Key], orWait receiver: (any MessageReceiver)?,
        waitingAtMost limit: Int
    ) throws(KeyspaceError) -> ConsumeOutcome

    /// Forgets a waiting consumer (it timed out or left).
    func cancelWait(_ receiver: any MessageReceiver)

    /// Puts back what a consumer could not take: a popped message to the next waiting consumer
    /// or in line where it was; leased messages in line where they were, their attempt not
    /// counted. A moved message stays where it was moved.
    func giveBack(_ handover: Handover) throws(KeyspaceError)

    /// Acknowledges leased messages of `queue` by their receipts: each whose lease is current
    /// is removed for good. One status per receipt, in order. Throws `.invalidReceipt`, and
    /// acknowledges nothing, when a receipt is malformed.
    func acknowledge(_ receipts: [String], in queue: Key) throws(KeyspaceError) -> [LeaseStatus]

    /// Ends the lease of `receipt` `visibility` from now (at most
    /// `QueueLimits.maximumVisibility`), or now with zero: the message is then visible again at
    /// its place. Returns when it becomes visible. Throws `.leaseExpired` when the lease has
    /// ended, `.unknownReceipt` for a receipt not given out for this queue.
    func changeVisibility(of receipt: String, in queue: Key, to visibility: Duration) throws(KeyspaceError)
        -> Timestamp

    /// The policy of a queue: the standard one unless set.
    func policy(of queue: Key) throws(KeyspaceError) -> QueuePolicy

    /// Sets the policy of a queue, or resets it to the standard one with `nil`; returns the
    /// policy in force.
    func setPolicy(_ policy: QueuePolicy?, of queue: Key) throws(KeyspaceError) -> QueuePolicy

    /// The length of a queue (0 when absent), its messages by state, and the consumers waiting
    /// on it.
    func queueInfo(_ queue: Key) throws(KeyspaceError) -> QueueInfo

    /// The oldest visible messages of a queue, left in place.
    func peek(_ queue: Key, limit: Int) throws(KeyspaceError) -> [QueuedMessage]

    /// Deletes a queue and its messages, leased and delayed ones included; `false` when absent.
    /// Waiting consumers keep waiting, and the queue's policy stays.
    func removeQueue(_ queue: Key) throws(KeyspaceError) -> Bool

    /// The id of the newest event, 0 before the first.
    var lastEventID: UInt64 { get }

    /// Up to `limit` events after `position` matching `filter`, from the history (and, on an
    /// engine that tells expirations ahead of it, those it told since), each with the position
    /// its subscriber reaches with it; and the ids lost because the history moved past
    /// `position`.
    func events(after position: EventPosition, matching filter: EventFilter, limit: Int) -> EventBatch

    /// Starts waking `subscriber` when events matching `filter` are published.
    func subscribe(_ subscriber: any EventSubscriber, filter: EventFilter)

    /// Stops waking `subscriber`.
    func unsubscribe(_ subscriber: any EventSubscriber)

    /// What to wait for before acknowledging the changes the caller just made, when the store
    /// promises that acknowledged changes are on disk and they are not yet; `nil` otherwise.
    func pendingDurability() -> DurabilityTicket?

    /// Calls `completion` once the changes covered by `ticket` are on disk (with `nil`), or
    /// can no longer be (with the error); from any thread, possibly at once.
    func whenDurable(_ ticket: DurabilityTicket, _ completion: @escaping @Sendable (KeyspaceError?) -> Void)

    /// What persistence is doing; `nil` when the store keeps nothing across restarts.
    var persistenceStatus: PersistenceStatus? { get }

    /// Why the store cannot serve now (its cluster cannot be reached), or `nil` when it can.
    var unavailability: KeyspaceError? { get }

    /// The memory the store holds, its limit and evictions; `nil` when it does not apply (the
    /// default: an engine whose data lives elsewhere).
    var memoryStatus: MemoryStatus? { get }
}

extension KeyspaceStore {
    /// A store in this process is always there.
    package var unavailability: KeyspaceError? { nil }

    /// Not applicable: the data is not held in this process.
    package var memoryStatus: MemoryStatus? { nil }
}

extension KeyspaceStore {
    /// Appends a message to a queue, visible at once.
    package func push(_ message: Payload, to queue: Key) throws(KeyspaceError) -> PushOutcome {
        try push(message, to: queue, delay: nil)
    }

    /// Pops the oldest visible message of the first of `queues` that has one; `nil` when none
    /// has.
    package func pop(from queues: [Key]) throws(KeyspaceError) -> PoppedMessage? {
        guard
            case .delivered(.popped(let popped)) = try consume(
                .pop, from: queues, orWait: nil, waitingAtMost: 0)
        else { return nil }
        return popped
    }
}
