/// A consumer waiting for messages from one or more queues: the gateway wraps a parked
/// request or a WebSocket request in one.
///
/// The keyspace calls `claim()` under its lock, and `deliver(_:durableAfter:)` once it has
/// released the lock, with what the claimed consumer got.
package protocol MessageReceiver: AnyObject, Sendable {
    /// Takes the receiver for one delivery; `false` when it no longer waits (answered, timed
    /// out or gone). Called under the keyspace's lock: an atomic flag flip and nothing more.
    func claim() -> Bool

    /// Hands over what a claimed receiver got, to be answered once the changes of `ticket` are
    /// durable (`nil`: at once); `false` when the consumer turned out to be gone, in which case
    /// the keyspace puts the handover back (`KeyspaceStore.giveBack(_:)`).
    func deliver(_ handover: Handover, durableAfter ticket: DurabilityTicket?) -> Bool
}
