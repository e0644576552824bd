/// A message taken from a queue, with the queue it came from.
package struct PoppedMessage: Sendable, Equatable {
    /// The queue the message came from.
    package var queue: Key
    /// The message.
    package var message: Payload

    /// Creates a popped message.
    package init(queue: Key, message: Payload) {
        self.queue = queue
        self.message = message
    }
}
