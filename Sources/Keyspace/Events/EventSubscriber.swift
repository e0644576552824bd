/// Something that wants to know when events it may want are published: the gateway's event
/// streams.
package protocol EventSubscriber: AnyObject, Sendable {
    /// Events matching the subscriber's filter were published; it reads them with
    /// `KeyspaceStore.events(after:matching:limit:)`. Called on the keyspace's notifier
    /// thread, so it must only wake the subscriber up.
    func eventsAvailable()

    /// The events after `previous` through `last` hold none the subscriber wants: if it has
    /// read everything through `previous`, it may move its cursor to `last`, so that events it
    /// never wanted cannot push it out of the history. Called on the notifier thread.
    func nothingMatched(after previous: UInt64, through last: UInt64)
}
