/// One mutation of the keyspace, as the state reports it: enough for the engine to derive the
/// events subscribers see, the record the log keeps, and what to do once the lock is released.
///
/// Each case carries what its consumers need and nothing they would have to look up again:
/// `ChangePublisher.publish(changesOf:at:)` turns it into events and a `JournalRecord` in one
/// place, so that no mutation mentions either.
enum KeyspaceChange: Equatable {
    /// A string value was written, with its new version and deadline (`nil`: persistent).
    case set(key: Key, value: Payload, version: Version, deadline: Timestamp?)
    /// A key was deleted, string or queue.
    case delete(key: Key)
    /// A key was evicted to make room under the memory limit.
    case evict(key: Key)
    /// A key was removed at its deadline, `lateness` milliseconds after it.
    case expire(key: Key, lateness: Int64)
    /// A key's deadline was set or, with `nil`, cleared; `hadDeadline` tells whether it had
    /// one before, since clearing none is no event.
    case deadline(key: Key, deadline: Timestamp?, hadDeadline: Bool)
    /// A message was stored in a queue: in line at its place, or delayed `until`; `created` is
    /// the version of the queue when the message created it.
    case push(queue: Key, message: QueueMessage, created: Version?, until: Timestamp?)
    /// The oldest visible message of a queue was taken; `emptied` when it was the last, which
    /// removed the queue.
    case pop(queue: Key, emptied: Bool)
    /// A message for a queue with no visible message went straight to a waiting consumer:
    /// pushed and popped at once, leaving the queue as it was.
    case handOff(queue: Key)
    /// A message left the line on a lease (number `number`, ending at `deadline`), its
    /// `attempts` counting this lease.
    case lease(queue: Key, id: UInt64, number: UInt64, deadline: Timestamp, attempts: Int)
    /// A leased message was acknowledged and removed; `emptied` when it was the last.
    case acknowledge(queue: Key, id: UInt64, emptied: Bool)
    /// A leased message went back in line at its place, with `attempts` (one less than its
    /// lease counted when it was never delivered); `lateness` milliseconds after its lease
    /// ended, when its timer ended it.
    case release(queue: Key, id: UInt64, attempts: Int, reason: EventReason, lateness: Int64?)
    /// A lease was extended, or shortened, to `deadline`.
    case extend(queue: Key, id: UInt64, deadline: Timestamp)
    /// A delayed message joined the line at `place`, `lateness` milliseconds after its delay.
    case reveal(queue: Key, id: UInt64, place: UInt64, lateness: Int64)
    /// A message left one queue for another's line, or for a consumer.
    case transfer(Transfer)
    /// A queue's policy was set or, with `nil`, reset.
    case policy(queue: Key, policy: QueuePolicy?)
}
