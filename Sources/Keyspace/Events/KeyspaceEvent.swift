/// One change to the keyspace, as subscribers see it.
package struct KeyspaceEvent: Sendable, Equatable {
    /// Strictly increasing across the keyspace's events, from 1.
    package var id: UInt64
    /// What happened.
    package var type: KeyspaceEventType
    /// The key it happened to.
    package var key: Key
    /// When it happened.
    package var time: Timestamp
    /// Why, for the types that say (`release`); `nil` for the others.
    package var reason: EventReason?

    /// Creates an event.
    package init(id: UInt64, type: KeyspaceEventType, key: Key, time: Timestamp, reason: EventReason? = nil) {
        self.id = id
        self.type = type
        self.key = key
        self.time = time
        self.reason = reason
    }
}
