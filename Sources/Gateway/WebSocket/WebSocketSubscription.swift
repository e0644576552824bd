import Keyspace
import Plumbing

/// One `subscribe` of a WebSocket session: a filter and a cursor in the event history, woken
/// by the keyspace when matching events are published.
///
/// The keyspace's notifier only flags it and asks the session's socket for service, once until
/// the session has read; the session reads the events on the socket's loop, so a slow socket
/// never holds the notifier.
final class WebSocketSubscription: EventSubscriber {
    private struct State {
        var cursor: EventCursor
        var hasNews = true
        /// The notifier's round that flagged the subscription, kept until it reads.
        var round: NotificationRound?
    }

    /// The number the client knows it by.
    let number: Int
    /// What it wants.
    let filter: EventFilter
    private let state: Mutex<State>
    private let onNews: @Sendable () -> Void

    /// A subscription to the events after `cursor` that pass `filter`; `onNews` asks for the
    /// session to be served.
    init(
        number: Int, filter: EventFilter, after cursor: EventPosition, onNews: @escaping @Sendable () -> Void
    ) {
        self.number = number
        self.filter = filter
        self.onNews = onNews
        state = Mutex(State(cursor: EventCursor(after: cursor)))
    }

    func eventsAvailable(in round: NotificationRound) {
        // Already flagged: the session's service is requested and not yet done, and will read
        // these events too; that read is owed to an earlier round.
        let wasFlagged = state.withLock { state in
            defer { state.hasNews = true }
            if !state.hasNews {
                state.round = round
            }
            return state.hasNews
        }
        if !wasFlagged {
            onNews()
        }
    }

    func nothingMatched(after previous: UInt64, through last: UInt64) {
        state.withLock { $0.cursor.skip(after: previous, through: last) }
    }

    /// The next batch, if events may have come since the last read, and the round that
    /// flagged the subscription if it kept one, to let go of once the batch is sent; `nil`
    /// otherwise. A whole batch leaves the subscription flagged, for the next round.
    func read(from store: some KeyspaceStore) -> (batch: EventCursor.Read, round: NotificationRound?)? {
        state.withLock { state in
            guard state.hasNews else { return nil }
            let batch = state.cursor.read(from: store, matching: filter)
            state.hasNews = batch.hasMore
            return (batch, state.round.take())
        }
    }
}
