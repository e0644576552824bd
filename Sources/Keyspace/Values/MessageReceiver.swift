/// A consumer waiting for one message from one or more queues: the gateway wraps a parked
/// request in one.
///
/// The keyspace only ever calls `claim()`, under its lock; the caller that gets a claimed
/// receiver back delivers to it after the lock is released.
package protocol MessageReceiver: AnyObject, Sendable {
    /// Takes the receiver for one message; `false` when it no longer waits (answered, timed
    /// out or gone). Called under the keyspace's lock: an atomic flag flip and nothing more.
    func claim() -> Bool

    /// Hands a message to a receiver claimed for it; `false` when the consumer turned out to be
    /// gone, in which case the message is still the caller's.
    func deliver(_ message: Payload, from queue: Key) -> Bool
}
