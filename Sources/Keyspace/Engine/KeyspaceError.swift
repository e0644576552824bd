/// Why the keyspace refused an operation; nothing changed.
package enum KeyspaceError: Error, Equatable, Sendable {
    /// The key is not 1–1024 bytes of UTF-8 text without control characters.
    case invalidKey(String)
    /// The key holds another type than the operation works on.
    case wrongType(key: Key, actual: KeyType)
    /// A write condition (`If-Match`, `If-None-Match`) does not hold.
    case conditionFailed(key: Key)
    /// A time to live is not positive or is beyond `TimeToLive.maximum`.
    case invalidTimeToLive(String)
    /// A listing cursor is not one the keyspace gave out.
    case invalidCursor
    /// A key pattern is malformed: an unterminated `[` set or a trailing `\`.
    case invalidPattern(String)
    /// A pop would wait on a queue that already has `limit` consumers waiting.
    case tooManyWaiting(queue: Key, limit: Int)
    /// The change needs `needed` more bytes than the memory limit leaves, and the eviction
    /// policy cannot free them (`noeviction`, or nothing left it may evict): `used` of `limit`
    /// bytes are held.
    case memoryFull(used: Int, limit: Int, needed: Int)
    /// An argument is out of its bounds (a visibility timeout, a delay, a policy); the detail
    /// says which.
    case invalidArgument(String)
    /// A receipt is not one in the form the keyspace gives out.
    case invalidReceipt(String)
    /// A well-formed receipt that was never given out for this queue.
    case unknownReceipt(queue: Key)
    /// A receipt given out for this queue whose lease has ended: its message may be with
    /// another consumer now.
    case leaseExpired(queue: Key)
    /// The change could not be made durable: the log cannot be written or synced. Changes are
    /// refused until it can; one this answers may already be in memory.
    case unavailable(PersistenceError)
    /// The store behind the keyspace (a NATS cluster) could not be reached, or did not answer
    /// in time; the reason, for an operator. A change refused this way may or may not have been
    /// made: only a timeout leaves that open.
    case unreachable(String)
}
