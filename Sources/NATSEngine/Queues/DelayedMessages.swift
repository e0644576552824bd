import Keyspace
import Plumbing

/// The delayed messages this gateway knows of (its own pushes at once, the others' from its
/// watch of the delayed stream), by due time: at its moment each goes to the tail of its queue.
///
/// The gateway that pushed a message moves it when due; every other one stands in a second
/// later, should the message still be in the delayed stream (its pusher gone). O(log n) per
/// message; a message known twice (pushed here, then seen by the watch) is held once.
final class DelayedMessages: Sendable {
    /// One delayed message: its sequence in the delayed stream, and its queue.
    struct Entry: Sendable {
        var sequence: UInt64
        var queue: Key
        var due: Timestamp
    }

    private struct State {
        var heap = DeadlineHeap<Timestamp, Entry>()
        var known: Set<UInt64> = []
    }

    private let state = Mutex(State())

    /// Holds `entry`, to be taken at `moment` (its due time, or a stand-in's later one);
    /// whether it is now the earliest.
    @discardableResult
    func add(_ entry: Entry, at moment: Timestamp) -> Bool {
        state.withLock { state in
            guard state.known.insert(entry.sequence).inserted else { return false }
            let handle = state.heap.insert(entry, deadline: moment)
            return state.heap.first?.handle == handle
        }
    }

    /// Takes up to `limit` entries whose moment has come, earliest first.
    func takeDue(now: Timestamp, limit: Int) -> [Entry] {
        state.withLock { state in
            var due: [Entry] = []
            while due.count < limit, let first = state.heap.first, first.deadline <= now {
                if let entry = state.heap.remove(first.handle) {
                    state.known.remove(entry.sequence)
                    due.append(entry)
                }
            }
            return due
        }
    }

    /// The earliest moment held.
    var nextMoment: Timestamp? { state.withLock { $0.heap.first?.deadline } }
}
