/// Events read from the history after a cursor.
package struct EventBatch: Sendable, Equatable {
    /// The matching events, oldest first.
    package var events: [KeyspaceEvent]
    /// Ids that were already dropped from the history when read: they will never be delivered.
    package var lost: ClosedRange<UInt64>?
    /// Where to read from next time: after the last event looked at, matching or not.
    package var cursor: EventPosition

    /// Creates a batch.
    package init(events: [KeyspaceEvent], lost: ClosedRange<UInt64>?, cursor: EventPosition) {
        self.events = events
        self.lost = lost
        self.cursor = cursor
    }
}
