import Keyspace
import MicroHTTPD
import Plumbing

/// One `GET /v1/events` stream: replays the history after the client's last id, then sends
/// events as they are published, with heartbeats between.
///
/// The connection is suspended whenever there is nothing to send; the keyspace's notifier
/// wakes it when a matching event is published. Its only buffer is one batch of encoded
/// events: a subscriber that falls behind reads from the shared history, and once the history
/// has moved past it, it gets a `gap` and the stream ends.
final class EventStream: HTTPStreamSource, EventSubscriber {
    /// The reconnection delay announced to clients.
    private static let retryMilliseconds = 3000

    private struct State {
        var waker: StreamWaker?
        var cursor: EventCursor
        /// The notifier's round that woke the stream from suspension, kept until it reads.
        var round: NotificationRound?
        /// That round once read, kept until what was read is sent.
        var sendingRound: NotificationRound?
        var pending: ArraySlice<UInt8> = []
        var hasSentRetry = false
        var isHeartbeatDue = false
        var isEnding = false
        /// What ends the stream if its token is revoked.
        var watch: AccessControl.Watch?
    }

    private let store: any KeyspaceStore
    private let filter: EventFilter
    private let fanOut: EventFanOut
    private let accessControl: AccessControl?
    private let caller: Caller
    private let state: Mutex<State>

    /// A stream of `subscription`'s events; it ends if `caller`'s token is revoked.
    init(
        store: any KeyspaceStore, subscription: Events.Subscription, fanOut: EventFanOut,
        accessControl: AccessControl?, caller: Caller
    ) {
        self.store = store
        filter = subscription.filter
        self.fanOut = fanOut
        self.accessControl = accessControl
        self.caller = caller
        state = Mutex(State(cursor: EventCursor(after: subscription.cursor)))
    }

    func start(_ waker: StreamWaker) {
        let watch = accessControl?.watch(caller) { [weak self] in
            self?.end()
        }
        state.withLock { state in
            state.waker = waker
            state.watch = watch
        }
        fanOut.add(self)
        store.subscribe(self, filter: filter)
    }

    func next(limit: Int) -> StreamChunk {
        // The rounds let go of are dropped here, outside the lock: their events went out, or
        // there were none.
        let (chunk, _, _) = state.withLock {
            state -> (StreamChunk, NotificationRound?, NotificationRound?) in
            guard state.pending.isEmpty else { return (take(limit, from: &state), nil, nil) }
            // Asked again with the last chunk taken whole: libmicrohttpd has sent it.
            let sent = state.sendingRound.take()
            let woken = state.round.take()
            fill(&state)
            guard !state.pending.isEmpty else {
                return (state.isEnding ? .end : .pause, sent, woken)
            }
            state.sendingRound = woken
            return (take(limit, from: &state), sent, nil)
        }
        return chunk
    }

    func finish() {
        store.unsubscribe(self)
        fanOut.remove(self)
        // Dropped outside the lock.
        let (watch, _, _) = state.withLock { ($0.watch.take(), $0.round.take(), $0.sendingRound.take()) }
        if let watch {
            accessControl?.unwatch(watch)
        }
    }

    /// Ends the stream once what is pending is sent: its token was revoked.
    func end() {
        let waker = state.withLock { state in
            state.isEnding = true
            return state.waker
        }
        waker?.wake()
    }

    /// New matching events: wake the connection to read them. The round is kept only when
    /// this resumes the connection, which then reads at once, until what it read is sent; a
    /// running stream may be waiting for its client to take what it was sent.
    func eventsAvailable(in round: NotificationRound) {
        let waker = state.withLock { state in
            state.round = round
            return state.waker
        }
        if waker?.wake() != true {
            // Dropped outside the lock.
            _ = state.withLock { $0.round.take() }
        }
    }

    /// Events it does not want went by: skip them if everything before was read.
    func nothingMatched(after previous: UInt64, through last: UInt64) {
        state.withLock { $0.cursor.skip(after: previous, through: last) }
    }

    /// Asks for a heartbeat comment if nothing else is sent first.
    func heartbeat() {
        let waker = state.withLock { state in
            state.isHeartbeatDue = true
            return state.waker
        }
        waker?.wake()
    }

    /// The next chunk of `state.pending`, at most `limit` bytes.
    private func take(_ limit: Int, from state: inout State) -> StreamChunk {
        let chunk = state.pending.prefix(limit)
        state.pending.removeFirst(chunk.count)
        fanOut.metrics?.count(sent: chunk.count, over: .eventStream)
        return .bytes(Array(chunk))
    }

    /// Encodes what is to be sent next into `state.pending`: the reconnection delay first, then
    /// a gap if events were lost, then a batch of events, or else a due heartbeat.
    private func fill(_ state: inout State) {
        guard !state.isEnding else { return }
        var bytes: [UInt8] = []
        if !state.hasSentRetry {
            state.hasSentRetry = true
            bytes += ServerSentEvents.retry(milliseconds: Self.retryMilliseconds)
        }
        let read = state.cursor.read(from: store, matching: filter)
        if let lost = read.lost {
            bytes += ServerSentEvents.gap(lost)
            fanOut.metrics?.countGap(lost)
        }
        state.isEnding = read.mustEnd
        fanOut.encoded.appendServerSentEvents(read.events, to: &bytes)
        if bytes.isEmpty && state.isHeartbeatDue {
            bytes += ServerSentEvents.comment("heartbeat")
        }
        state.isHeartbeatDue = false
        state.pending = bytes[...]
    }
}
