import DequeModule
import Plumbing

import struct Synchronization.Atomic

/// The keyspace's recent events in a bounded history, and the subscribers told of new ones.
///
/// The history keeps `capacity` events, and while the notifier is behind, the events it has not
/// looked at yet, up to twice `capacity` in all.
///
/// Writers append under the keyspace's lock (so ids follow the order of changes) and only
/// signal afterwards; a notifier thread then wakes the subscribers whose filters match. A slow
/// subscriber costs nothing but its cursor: it reads from the shared history, and learns what
/// it missed if the history moved past it. Appending and locating a cursor are O(1).
///
/// The notifier never pauses for a fixed time. A round takes every event appended since the
/// last one and wakes each subscriber that wants one of them, once; the subscribers it woke
/// from idle hold the round (`NotificationRound`) until they have read, and the next round
/// starts when they all have. So with no backlog each event is told at once, and under load
/// the events appended while a round is served gather into the next round's batch, which
/// each subscriber reads and sends at once: batches grow with the load, by themselves. A
/// subscriber that is behind is busy, so it is only flagged and holds up no round; and the
/// notifier waits for a round at most `longestRound`, whatever its subscribers do, and not at
/// all once the events waiting for it fill half the history.
package final class EventLog: Sendable {
    private struct State {
        var history: Deque<KeyspaceEvent> = []
        var lastID: UInt64 = 0
        var notifiedThrough: UInt64 = 0
        var subscribers = SubscriberGroups()
        /// Events told ahead of the history since the last round (`notify(ahead:)`).
        var ahead: [KeyspaceEvent] = []
        /// The number of the last round, and when it started.
        var lastRound: UInt64 = 0
        var roundStarted = ContinuousClock.now
    }

    /// What one round tells, taken under the lock.
    private struct Round {
        var events: [KeyspaceEvent]
        /// The events told ahead of the history.
        var ahead: [KeyspaceEvent]
        var previous: UInt64
        var last: UInt64
        var subscribers: SubscriberGroups
        /// Whether `events` holds every event after `previous`: not when the history dropped
        /// some before the round saw them.
        var isComplete: Bool
        var number: UInt64
    }

    /// What the notifier does next.
    private enum Step {
        case notify(Round)
        case wait(Duration)
        case sleep
    }

    /// The number of events kept.
    package let capacity: Int
    private let state = Mutex(State())
    private let notifier = WorkerThread(name: "keygate-events")
    /// The round whose subscribers are still reading, 0 when none.
    private let roundInProgress = Atomic<UInt64>(0)
    /// `State.lastID` and `State.notifiedThrough`, for writers and readers to read without
    /// the lock.
    private let appendedThrough = Atomic<UInt64>(0)
    private let notifiedThrough = Atomic<UInt64>(0)
    /// Whether anyone subscribes, for writers to read without the lock: with nobody to tell,
    /// they do not wake the notifier.
    private let hasSubscribers = Atomic<Bool>(false)
    /// Events waiting for the notifier past which it does not wait for a round in progress:
    /// it must look at every event before the history drops it, or a subscriber that wants
    /// none of them could not skip them, and would find a gap.
    private let pressure: UInt64

    /// The longest the notifier waits for the subscribers of a round to read before it starts
    /// the next one anyway: a bound for when something else slows a subscriber's thread, not
    /// a pause, since a round ends as soon as its subscribers have read.
    private static let longestRound = Duration.milliseconds(10)

    package init(capacity: Int) {
        precondition(capacity > 0, "an event history holds at least one event")
        self.capacity = capacity
        pressure = UInt64(max(1, capacity / 2))
    }

    /// The id of the newest event, 0 before the first.
    package var lastID: UInt64 {
        state.withLock { $0.lastID }
    }

    /// Makes ids go on after `id`, the last one given out before a restart: a subscriber
    /// resuming from an earlier id learns that those events are lost. Before any `append`.
    package func resume(after id: UInt64) {
        state.withLock { state in
            precondition(state.history.isEmpty, "ids are resumed before the first event")
            state.lastID = id
            state.notifiedThrough = id
            appendedThrough.store(id, ordering: .relaxed)
            notifiedThrough.store(id, ordering: .relaxed)
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
            appendedThrough.store(state.lastID, ordering: .releasing)
            dropOldEvents(&state)
            return state.lastID
        }
    }

    /// Records an event whose id was given elsewhere (a cluster's event stream), after the
    /// newest; an id past the next one means the events between are lost: the history restarts
    /// there, and the notifier's next round, seeing it incomplete, wakes every subscriber to
    /// learn of the gap. An id not after the newest is one the history had: ignored, `false`.
    /// O(1), or O(history) on a restart.
    @discardableResult
    package func append(_ event: KeyspaceEvent) -> Bool {
        state.withLock { state in
            guard event.id > state.lastID else { return false }
            if event.id != state.lastID + 1 {
                state.history.removeAll()
            }
            state.lastID = event.id
            state.history.append(event)
            appendedThrough.store(state.lastID, ordering: .releasing)
            dropOldEvents(&state)
            return true
        }
    }

    /// Drops the oldest events past the capacity. An event goes once the notifier has looked at
    /// it (or nobody listens): until then a subscriber that wants none of the events before its
    /// next one cannot skip them, and would find a gap only because the notifier was late. At
    /// most twice the capacity is kept for that.
    private func dropOldEvents(_ state: inout State) {
        while state.history.count > capacity,
            let oldest = state.history.first,
            oldest.id <= state.notifiedThrough || state.subscribers.isEmpty
                || state.history.count > 2 * capacity
        {
            state.history.removeFirst()
        }
    }

    /// Up to `limit` events after `cursor` matching `filter`. O(events looked at), and at most
    /// `scanBudget` of them, so one read never holds the lock long.
    package func events(
        after cursor: UInt64, matching filter: EventFilter, limit: Int, scanBudget: Int = 4096
    )
        -> EventBatch
    {
        // A subscriber that has read everything, as one does right after sending what it read,
        // learns it without the lock every subscriber and writer shares. An event appended
        // after this load is told to it by the notifier, which reads under the lock.
        guard cursor < appendedThrough.load(ordering: .acquiring) else {
            return EventBatch(events: [], lost: nil, cursor: EventPosition(id: cursor))
        }
        return state.withLock { state in
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
            return EventBatch(events: events, lost: lost, cursor: EventPosition(id: position))
        }
    }

    /// Starts telling `subscriber` of new events matching `filter`. O(1) amortized.
    /// The events appended while nobody subscribed were never told: the first subscriber
    /// reads its own from its cursor, and rounds start after them.
    package func subscribe(_ subscriber: any EventSubscriber, filter: EventFilter) {
        state.withLock { state in
            if state.subscribers.isEmpty {
                state.notifiedThrough = state.lastID
                notifiedThrough.store(state.lastID, ordering: .relaxed)
            }
            state.subscribers.insert(subscriber, filter: filter)
            hasSubscribers.store(true, ordering: .relaxed)
        }
    }

    /// Stops telling `subscriber` of new events. O(1) amortized.
    package func unsubscribe(_ subscriber: any EventSubscriber) {
        state.withLock { state in
            state.subscribers.remove(subscriber)
            hasSubscribers.store(!state.subscribers.isEmpty, ordering: .relaxed)
        }
    }

    /// Wakes the notifier: events were appended. Cheap; after the keyspace's lock is released.
    /// Not with nobody subscribed (a subscriber that came after the append reads it from its
    /// cursor; one that came before is seen, by the log's lock). While a round is being read,
    /// the end of that round wakes the notifier instead, unless the events waiting for it
    /// reach `pressure`.
    package func notifySubscribers() {
        guard hasSubscribers.load(ordering: .relaxed) else { return }
        // Ordered after the append: a round that ends after this load sees the new events.
        if roundInProgress.load(ordering: .sequentiallyConsistent) != 0 {
            let waiting = appendedThrough.load(ordering: .relaxed) &- notifiedThrough.load(ordering: .relaxed)
            guard waiting >= pressure else { return }
        }
        notifier.wake()
    }

    /// Wakes the subscribers that want one of `events`, which the engine told ahead of the
    /// history (a cluster's expirations, at their deadline), at the next round. O(events); a
    /// round in progress delays it until its end, as it does appends.
    package func notify(ahead events: [KeyspaceEvent]) {
        guard hasSubscribers.load(ordering: .relaxed), !events.isEmpty else { return }
        state.withLock { $0.ahead += events }
        if roundInProgress.load(ordering: .sequentiallyConsistent) == 0 {
            notifier.wake()
        }
    }

    /// Starts the notifier thread; idempotent. The thread keeps the log alive until `stop()`.
    package func start() {
        notifier.start { [self] in
            switch nextStep() {
            case .notify(let round):
                notify(round)
                // The round's end wakes the thread, and appends do once it has ended; if it
                // does not end in time, the thread looks again then.
                return .untilWokenOrAfter(Self.longestRound)
            case .wait(let duration):
                return .untilWokenOrAfter(duration)
            case .sleep:
                return .untilWoken
            }
        }
    }

    /// Stops the notifier thread and waits for it to end; idempotent.
    package func stop() {
        notifier.stop()
    }

    /// A round's subscribers have all let go of it; any thread.
    func roundEnded(_ number: UInt64) {
        // Only the round in progress: one that outlived `longestRound` was already replaced.
        guard
            roundInProgress.compareExchange(
                expected: number, desired: 0, ordering: .sequentiallyConsistent
            ).exchanged
        else { return }
        notifier.wake()
    }

    /// What the notifier does now: wait for the round in progress, tell the events appended
    /// since the last round, or sleep until there are some.
    private func nextStep() -> Step {
        state.withLock { state in
            let fresh = state.lastID - state.notifiedThrough
            if roundInProgress.load(ordering: .sequentiallyConsistent) != 0 {
                let waited = ContinuousClock.now - state.roundStarted
                if waited < Self.longestRound && fresh < pressure {
                    return .wait(Self.longestRound - waited)
                }
                // Given up on: appends wake the notifier again, and its end changes nothing.
                roundInProgress.store(0, ordering: .sequentiallyConsistent)
            }
            let available = min(fresh, UInt64(state.history.count))
            defer {
                state.notifiedThrough = state.lastID
                notifiedThrough.store(state.lastID, ordering: .relaxed)
            }
            let ahead = state.ahead
            state.ahead = []
            // Nobody to tell: nothing is copied, which a writer's wake-up would otherwise cost.
            guard !state.subscribers.isEmpty, fresh > 0 || !ahead.isEmpty else { return .sleep }
            state.lastRound += 1
            // Read only when a round starts: a write with nobody to tell costs no clock.
            state.roundStarted = .now
            // Before any subscriber can let go of it, and before the events are told.
            roundInProgress.store(state.lastRound, ordering: .sequentiallyConsistent)
            return .notify(
                Round(
                    events: Array(state.history.suffix(Int(available))), ahead: ahead,
                    previous: state.notifiedThrough,
                    last: state.lastID, subscribers: state.subscribers, isComplete: available == fresh,
                    number: state.lastRound))
        }
    }

    /// Wakes the subscribers that want one of the round's events, and tells the others they
    /// may skip them. O(events × distinct filters + subscribers). The round ends when the
    /// subscribers that kept it have let go, at the latest when this returns.
    private func notify(_ round: Round) {
        let notice = NotificationRound(log: self, number: round.number)
        // Outside the lock: filters cost O(events × filters) here, never to a writer.
        for group in round.subscribers.groups {
            // Events the history dropped before this round saw them may have matched: everyone
            // is woken, to read them or learn of the gap.
            guard round.isComplete else {
                for subscriber in group.subscribers {
                    subscriber.eventsAvailable(in: notice)
                }
                continue
            }
            let first = round.events.first(where: group.filter.matches)
            // The history's events before the first match are skipped too: in a large round,
            // reading from where the last round left could otherwise start where it ends.
            let skipped = first.map { $0.id - 1 } ?? round.last
            for subscriber in group.subscribers where skipped > round.previous {
                subscriber.nothingMatched(after: round.previous, through: skipped)
            }
            guard first != nil || round.ahead.contains(where: group.filter.matches) else { continue }
            for subscriber in group.subscribers {
                subscriber.eventsAvailable(in: notice)
            }
        }
    }
}
