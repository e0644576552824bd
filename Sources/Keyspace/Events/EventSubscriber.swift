/// Something that wants to know when events it may want are published: the gateway's event
/// streams and WebSocket subscriptions.
package protocol EventSubscriber: AnyObject, Sendable {
    /// Events matching the subscriber's filter were published; it reads them with
    /// `KeyspaceStore.events(after:matching:limit:)`. Called on the keyspace's notifier
    /// thread, so it must only wake the subscriber up.
    ///
    /// A subscriber that was idle and is now woken keeps `round` until it has read (or is
    /// finished), and lets go of it then; one that is busy already, or cannot read soon (its
    /// client does not read what it is sent), must not keep it: the notifier's next round waits
    /// for every subscriber that kept this one.
    func eventsAvailable(in round: NotificationRound)

    /// The events after `previous` through `last` hold none the subscriber wants: if it has
    /// read everything through `previous`, it may move its cursor to `last`, so that events it
    /// never wanted cannot push it out of the history. Called on the notifier thread.
    func nothingMatched(after previous: UInt64, through last: UInt64)
}
