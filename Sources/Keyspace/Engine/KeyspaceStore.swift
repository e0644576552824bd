/// The operations the gateway needs from a keyspace, whatever engine is behind them.
///
/// The built-in `KeyspaceEngine` is one; an engine over a Redis or Valkey cluster can be
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
    func timeToLive(forKey key: Key) -> TimeToLive?

    /// Sets (`timeToLive` non-nil) or removes the time to live of `key`; `false` when absent.
    func setTimeToLive(_ timeToLive: Duration?, forKey key: Key) throws(KeyspaceError) -> Bool

    /// One page of the keys starting with `prefix`, after `cursor`, in byte order.
    func keys(prefix: [UInt8], after cursor: Key?, limit: Int) -> KeyPage

    /// Appends a message to a queue (created when absent), or hands it to the oldest consumer
    /// waiting on the queue.
    func push(_ message: Payload, to queue: Key) throws(KeyspaceError) -> PushOutcome

    /// Pops the oldest message of the first non-empty queue, in the order given; `.empty` when
    /// all are empty.
    func pop(from queues: [Key]) throws(KeyspaceError) -> PopOutcome

    /// Pops like `pop(from:)` for `receiver`, which must be claimed for the message; when all
    /// queues are empty, registers it on each (`.waiting`) until a push claims it or
    /// `cancelWait(_:)` is called. Consumers are served first-come, first-served. Throws
    /// `.tooManyWaiting` instead of registering when a queue already has `limit` consumers
    /// waiting.
    func pop(from queues: [Key], orWait receiver: any MessageReceiver, waitingAtMost limit: Int)
        throws(KeyspaceError) -> PopOutcome

    /// Forgets a waiting consumer (it timed out or left).
    func cancelWait(_ receiver: any MessageReceiver)

    /// Puts back a message a claimed consumer could not take: to the next waiting consumer, or
    /// at the head of its queue.
    func giveBack(_ message: Payload, to queue: Key) throws(KeyspaceError) -> PushOutcome

    /// The length of a queue (0 when absent) and the consumers waiting on it.
    func queueInfo(_ queue: Key) throws(KeyspaceError) -> QueueInfo

    /// The oldest messages of a queue, left in place.
    func peek(_ queue: Key, limit: Int) throws(KeyspaceError) -> [Payload]

    /// Deletes a queue and its messages; `false` when absent. Waiting consumers keep waiting.
    func removeQueue(_ queue: Key) throws(KeyspaceError) -> Bool

    /// The id of the newest event, 0 before the first.
    var lastEventID: UInt64 { get }

    /// Up to `limit` events after `cursor` matching `filter`, from the history, and the ids
    /// lost because the history moved past `cursor`.
    func events(after cursor: UInt64, matching filter: EventFilter, limit: Int) -> EventBatch

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

    /// The memory the store holds, its limit and evictions; `nil` when it does not apply (the
    /// default: an engine whose data lives elsewhere).
    var memoryStatus: MemoryStatus? { get }
}

extension KeyspaceStore {
    /// Not applicable: the data is not held in this process.
    package var memoryStatus: MemoryStatus? { nil }
}
