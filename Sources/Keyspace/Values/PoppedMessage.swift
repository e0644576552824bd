/// A message taken from a queue, with the queue it came from.
package struct PoppedMessage: Sendable, Equatable {
    /// The queue the message came from.
    package var queue: Key
    /// The message.
    package var message: Payload
    /// What the built-in engine knew of it in its queue, to put it back exactly where it was
    /// if its consumer cannot take it.
    let stored: QueueMessage?

    /// Creates a popped message.
    package init(queue: Key, message: Payload) {
        self.init(queue: queue, stored: nil, message: message)
    }

    init(queue: Key, stored: QueueMessage?, message: Payload) {
        self.queue = queue
        self.message = message
        self.stored = stored
    }
}
