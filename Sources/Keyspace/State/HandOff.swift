/// What a consumer claimed under the keyspace's lock is owed, for the engine to deliver once
/// the lock is released.
struct HandOff {
    /// The consumer, claimed.
    let receiver: any MessageReceiver
    /// What it gets.
    let handed: Handed
}
