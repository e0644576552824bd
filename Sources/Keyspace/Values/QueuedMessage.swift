/// A message as it waits in a queue: its bytes with what the queue knows of it.
package struct QueuedMessage: Sendable, Equatable {
    /// The message's id, the same through every delivery, unique across the keyspace's life.
    package var id: String
    /// The bytes and media type, as pushed.
    package var message: Payload
    /// How many times it was received (leased) so far.
    package var attempts: Int
    /// When it was pushed.
    package var enqueuedAt: Timestamp

    /// Creates a message.
    package init(id: String, message: Payload, attempts: Int, enqueuedAt: Timestamp) {
        self.id = id
        self.message = message
        self.attempts = attempts
        self.enqueuedAt = enqueuedAt
    }
}
