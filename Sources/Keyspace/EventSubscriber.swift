/// Something that wants to know when events it may want are published: the gateway's event
/// streams.
package protocol EventSubscriber: AnyObject, Sendable {
    /// Events matching the subscriber's filter were published; it reads them with
    /// `KeyspaceStore.events(after:matching:limit:)`. Called on the keyspace's notifier
    /// thread, so it must only wake the subscriber up.
    func eventsAvailable()
}
