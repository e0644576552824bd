import Keyspace

/// Where a subscriber stands in the keyspace's event history, and the rules of what it reads
/// next, shared by event streams and WebSocket subscriptions: replay from the client's last
/// id, a `gap` for events the history no longer holds, and an end for a subscriber that falls
/// out of the history after it had caught up (it could not keep up; it may resume after the gap).
struct EventCursor {
    /// Events read from the history at a time.
    static let batchSize = 64

    /// What one read found.
    struct Read {
        /// Events to deliver, oldest first.
        var events: [KeyspaceEvent] = []
        /// Ids lost before these events: announce a gap.
        var lost: ClosedRange<UInt64>?
        /// The subscriber fell behind while live: after the gap, it ends.
        var mustEnd = false
        /// A whole batch was read: more may be waiting.
        var hasMore = false
    }

    /// After the last event read or skipped (and the expirations told ahead).
    private(set) var position: EventPosition
    /// Set once a read returned less than a batch: the subscriber caught up with the history.
    private(set) var isLive = false

    /// A cursor at `position`.
    init(after position: EventPosition) {
        self.position = position
    }

    /// Reads the next batch of matching events. O(events looked at).
    mutating func read(from store: some KeyspaceStore, matching filter: EventFilter) -> Read {
        let batch = store.events(after: position, matching: filter, limit: Self.batchSize)
        if let lost = batch.lost, isLive {
            return Read(lost: lost, mustEnd: true)
        }
        position = batch.cursor
        let hasMore = batch.events.count == Self.batchSize
        if !hasMore {
            isLive = true
        }
        return Read(events: batch.events, lost: batch.lost, hasMore: hasMore)
    }

    /// Events after `previous` through `last` hold none the subscriber wants: skips them if
    /// everything before was read, so that they cannot push it out of the history.
    mutating func skip(after previous: UInt64, through last: UInt64) {
        if position.id >= previous {
            position.id = max(position.id, last)
        }
    }
}
