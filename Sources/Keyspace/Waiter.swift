/// A consumer registered on one or more queues, in the keyspace's own bookkeeping.
///
/// Only touched under the keyspace's lock. A waiter leaves every list at once by becoming
/// inactive; lists drop inactive entries lazily, so leaving is O(number of its queues).
final class Waiter {
    /// Who gets the message.
    let receiver: any MessageReceiver
    /// The queues it waits on, in the order the consumer gave.
    let queues: [Key]
    /// Whether it still waits; false once claimed or cancelled.
    var isActive = true

    init(receiver: any MessageReceiver, queues: [Key]) {
        self.receiver = receiver
        self.queues = queues
    }
}
