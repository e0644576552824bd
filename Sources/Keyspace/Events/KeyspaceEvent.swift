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
    /// On a cluster, the record an `expired` event ends (its value's stream sequence), by which
    /// a subscriber told of it ahead knows it; 0 elsewhere.
    package var record: UInt64 = 0
    /// The expirations its subscriber was told ahead of the history, as of this event: with
    /// `id`, what the event's id says (`position`). Empty in the history, and on an engine that
    /// tells none ahead.
    package var announced = AnnouncedExpirations()

    /// Where its subscriber stands once it has this event: its id.
    package var position: EventPosition {
        EventPosition(id: id, announced: announced)
    }

    /// Creates an event.
    package init(id: UInt64, type: KeyspaceEventType, key: Key, time: Timestamp, reason: EventReason? = nil) {
        self.id = id
        self.type = type
        self.key = key
        self.time = time
        self.reason = reason
    }
}
