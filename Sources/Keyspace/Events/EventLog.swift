import DequeModule
import Plumbing

/// The keyspace's recent events in a bounded history, and the subscribers told of new ones.
///
/// Writers append under the keyspace's lock (so ids follow the order of changes) and only
/// signal afterwards; a notifier thread then wakes the subscribers whose filters match. A slow
/// subscriber costs nothing but its cursor: it reads from the shared history, and learns what
/// it missed if the history moved past it. Appending and locating a cursor are O(1).
final class EventLog: Sendable {
    private struct Subscription {
        let subscriber: any EventSubscriber
        let filter: EventFilter
    }

    private struct State {
        var history: Deque<KeyspaceEvent> = []
        var lastID: UInt64 = 0
        var notifiedThrough: UInt64 = 0
        var subscriptions: [ObjectIdentifier: Subscription] = [:]
    }

    /// The number of events kept.
    let capacity: Int
    private let state = Mutex(State())
    private let notifier = WorkerThread(name: "keygate-events")

    init(capacity: Int) {
        precondition(capacity > 0, "an event history holds at least one event")
        self.capacity = capacity
    }

    /// The id of the newest event, 0 before the first.
    var lastID: UInt64 {
        state.withLock { $0.lastID }
    }

    /// Makes ids go on after `id`, the last one given out before a restart: a subscriber
    /// resuming from an earlier id learns that those events are lost. Before any `append`.
    func resume(after id: UInt64) {
        state.withLock { state in
            precondition(state.history.isEmpty, "ids are resumed before the first event")
            state.lastID = id
            state.notifiedThrough = id
        }
    }

    /// Records an event with the next id and returns that id; O(1). Called under the
    /// keyspace's lock.
    @discardableResult
    func append(_ type: KeyspaceEventType, key: Key, time: Timestamp, reason: EventReason? = nil) -> UInt64 {
        state.withLock { state in
            state.lastID += 1
            state.history.append(
                KeyspaceEvent(id: state.lastID, type: type, key: key, time: time, reason: reason))
            if state.history.count > capacity {
                state.history.removeFirst()
            }
            return state.lastID
        }
    }

    /// Up to `limit` events after `cursor` matching `filter`. O(events looked at), and at most
    /// `scanBudget` of them, so one read never holds the lock long.
    func events(after cursor: UInt64, matching filter: EventFilter, limit: Int, scanBudget: Int = 4096)
        -> EventBatch
    {
        state.withLock { state in
            let oldest = state.lastID - UInt64(state.history.count) + 1
            var lost: ClosedRange<UInt64>?
            var position = cursor
            if position + 1 < oldest {
                lost = (position + 1)...(oldest - 1)
                position = oldest - 1
            }
            var events: [KeyspaceEvent] = []
            var index = Int(position + 1 - oldest)
            var budget = scanBudget
            while index < state.history.count && events.count < limit && budget > 0 {
                let event = state.history[index]
                if filter.matches(event) {
                    events.append(event)
                }
                position = event.id
                index += 1
                budget -= 1
            }
            return EventBatch(events: events, lost: lost, cursor: position)
        }
    }

    /// Starts telling `subscriber` of new events matching `filter`.
    func subscribe(_ subscriber: any EventSubscriber, filter: EventFilter) {
        state.withLock { state in
            state.subscriptions[ObjectIdentifier(subscriber)] = Subscription(
                subscriber: subscriber, filter: filter)
        }
    }

    /// Stops telling `subscriber` of new events.
    func unsubscribe(_ subscriber: any EventSubscriber) {
        _ = state.withLock { $0.subscriptions.removeValue(forKey: ObjectIdentifier(subscriber)) }
    }

    /// Wakes the notifier: events were appended. Cheap; after the keyspace's lock is released.
    func notifySubscribers() {
        notifier.wake()
    }

    /// Starts the notifier thread; idempotent. The thread keeps the log alive until `stop()`.
    func start() {
        notifier.start { [self] in
            let woken = notifyRound()
            // Wake-ups during the pause are served together by the next round.
            let pause = min(Self.longestPause, Self.pausePerWokenSubscriber * woken)
            return pause > .zero ? .untilWokenNotBefore(pause) : .untilWoken
        }
    }

    /// Stops the notifier thread and waits for it to end; idempotent.
    func stop() {
        notifier.stop()
    }

    /// The pause between two rounds of wake-ups, for each subscriber woken in the last one:
    /// waking many subscribers for every event would cost more than serving them, while
    /// waking them at most once per pause lets each take several events at a time. With few
    /// subscribers the pause is negligible and every event goes out at once.
    private static let pausePerWokenSubscriber = Duration.microseconds(20)
    private static let longestPause = Duration.milliseconds(50)

    /// Wakes the subscribers that want one of the events appended since the last round, and
    /// tells the others they may skip them; returns how many were woken.
    private func notifyRound() -> Int {
        let (events, previous, last, subscriptions, isComplete) = state.withLock { state in
            let fresh = state.lastID - state.notifiedThrough
            let available = min(fresh, UInt64(state.history.count))
            defer { state.notifiedThrough = state.lastID }
            // Nobody to tell: nothing is copied, which a writer's wake-up would otherwise cost.
            guard !state.subscriptions.isEmpty else {
                return ([KeyspaceEvent](), UInt64(0), UInt64(0), [Subscription](), true)
            }
            return (
                Array(state.history.suffix(Int(available))), state.notifiedThrough, state.lastID,
                Array(state.subscriptions.values), available == fresh
            )
        }
        guard last > previous else { return 0 }
        var woken = 0
        // Outside the lock: filters cost O(events × subscribers) here, never to a writer.
        for subscription in subscriptions {
            if !isComplete || events.contains(where: subscription.filter.matches) {
                subscription.subscriber.eventsAvailable()
                woken += 1
            } else {
                subscription.subscriber.nothingMatched(after: previous, through: last)
            }
        }
        return woken
    }
}
