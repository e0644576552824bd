/// A consumer registered on one or more queues, in the keyspace's own bookkeeping.
///
/// A value: it waits exactly as long as `KeyspaceState.waiters` holds it under its receiver.
/// The queues' lists name it by `id` and skip the ids no longer registered, so ending a wait
/// is one removal, however many queues it waits on.
struct Waiter {
    /// Names one registration: its receiver, and which registration of the keyspace it is,
    /// since the same receiver (or, once it is gone, another at its address) may wait again
    /// while a list still holds the id of an earlier wait.
    struct ID: Equatable {
        /// The receiver's identity.
        let receiver: ObjectIdentifier
        /// The registration's number, unique across the keyspace's life.
        let registration: UInt64
    }

    /// Which registration this is.
    let id: ID
    /// Who gets the message.
    let receiver: any MessageReceiver
    /// The queues it waits on, distinct, in the order the consumer gave.
    let queues: [Key]
    /// What it takes once a message comes.
    let consumption: Consumption
}
