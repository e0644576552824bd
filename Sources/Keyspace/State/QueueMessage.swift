/// One message of a queue, as the keyspace keeps it.
struct QueueMessage: Equatable, Sendable {
    /// Unique across the keyspace's life, the same through every delivery and move: a number
    /// from the keyspace's version counter.
    let id: UInt64
    /// Its place in line: messages are visible in increasing order of place. A push's place is
    /// its id; a message that joins a line later (moved, dead-lettered, its delay over) gets a
    /// new one, the tail's; a lease that ends puts it back at the place it had.
    var place: UInt64
    /// The bytes and media type, as pushed.
    var payload: Payload
    /// When it was pushed.
    let enqueuedAt: Timestamp
    /// How many leases it had.
    var attempts: Int

    /// The message as the keyspace's interface shows it.
    var queued: QueuedMessage {
        QueuedMessage(id: String(id), message: payload, attempts: attempts, enqueuedAt: enqueuedAt)
    }
}
