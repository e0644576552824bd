import DequeModule

/// The value of a queue key: its messages, oldest first.
///
/// A queue never holds zero messages: the last pop removes the key, as in Redis.
struct QueueValue {
    /// The messages, oldest first.
    private(set) var messages: Deque<Payload> = []
    /// The bytes of every message together.
    private(set) var bytes = 0
    /// The heap bytes of every message together, as `MemoryCost` counts them.
    private(set) var allocatedBytes = 0

    /// Appends a message at the tail.
    mutating func append(_ message: Payload) {
        messages.append(message)
        bytes += message.bytes.count
        allocatedBytes += MemoryCost.message(message)
    }

    /// Puts a message back at the head, where it was before a failed hand-off.
    mutating func prepend(_ message: Payload) {
        messages.prepend(message)
        bytes += message.bytes.count
        allocatedBytes += MemoryCost.message(message)
    }

    /// Removes and returns the oldest message.
    mutating func removeFirst() -> Payload? {
        guard let message = messages.popFirst() else { return nil }
        bytes -= message.bytes.count
        allocatedBytes -= MemoryCost.message(message)
        return message
    }
}
