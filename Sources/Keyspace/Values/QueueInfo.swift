/// The state of one queue.
package struct QueueInfo: Sendable, Equatable {
    /// Messages stored; 0 for an absent queue.
    package var length: Int
    /// Consumers parked on the queue, waiting for a message.
    package var consumers: Int

    /// Creates the state of a queue.
    package init(length: Int, consumers: Int) {
        self.length = length
        self.consumers = consumers
    }
}
