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
    /// A message was stored at the tail of a queue, or at its head when given back; `created`
    /// is the version of the queue when the message created it.
    case push(queue: Key, message: Payload, atHead: Bool, created: Version?)
    /// The oldest message of a queue was taken; `emptied` when it was the last, which removed
    /// the queue.
    case pop(queue: Key, emptied: Bool)
    /// A message for an empty queue went straight to a waiting consumer: pushed and popped at
    /// once, leaving the keyspace as it was.
    case handOff(queue: Key)
}
