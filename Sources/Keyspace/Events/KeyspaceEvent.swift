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

    /// Creates an event.
    package init(id: UInt64, type: KeyspaceEventType, key: Key, time: Timestamp) {
        self.id = id
        self.type = type
        self.key = key
        self.time = time
    }
}
