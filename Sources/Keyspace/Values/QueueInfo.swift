/// The state of one queue.
package struct QueueInfo: Sendable, Equatable {
    /// Messages stored, whatever their state; 0 for an absent queue.
    package var length: Int
    /// Consumers parked on the queue, waiting for a message.
    package var consumers: Int
    /// Messages a pop or a receive would take, in line.
    package var visible: Int
    /// Messages received on a lease that has not ended.
    package var inFlight: Int
    /// Messages pushed with a delay that has not passed.
    package var delayed: Int

    /// Creates the state of a queue; by default every message is visible.
    package init(length: Int, consumers: Int, visible: Int? = nil, inFlight: Int = 0, delayed: Int = 0) {
        self.length = length
        self.consumers = consumers
        self.visible = visible ?? length
        self.inFlight = inFlight
        self.delayed = delayed
    }
}
