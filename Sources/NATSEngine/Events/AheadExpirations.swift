import DequeModule
import Keyspace
import Plumbing

/// The expirations this gateway told at their deadline, ahead of their copies in the event
/// stream, each kept until its copy comes back: the cluster's round trip (the event stored on
/// three nodes, then sent back to every gateway) is what a subscriber would otherwise wait for.
///
/// Every subscriber reads them, in the order they were told, after the history
/// (`NATSEngine.events(after:matching:limit:)`): it is told one ahead if it has already read
/// the event that made the record (so an `expired` never comes before its key's `set`), and
/// its position then names the record (`EventPosition.announced`), so that the copy is not
/// told to it again, on this gateway or any other it resumes on. An expiration whose copy came
/// back is dropped at once: a subscriber that has not read it ahead reads the copy.
final class AheadExpirations: Sendable {
    /// One expiration told ahead.
    struct Entry: Sendable {
        /// The `expired` event, its id 0 and its record set.
        var event: KeyspaceEvent
        /// The stream sequence of the event that made the record.
        var madeAt: UInt64
        /// Whether its copy came back: a subscriber reads the copy instead.
        var isBack = false
    }

    private struct State {
        var entries: Deque<Entry> = []
        /// The number of `entries.first`; numbers follow the order they were told in.
        var first: UInt64 = 1
        /// The number of each entry not back, by record.
        var numbers: [UInt64: UInt64] = [:]
    }

    /// The most entries kept: past it, the oldest are dropped, and their subscribers read
    /// their copies.
    let capacity: Int
    private let state = Mutex(State())

    /// A store of at most `capacity` expirations waiting for their copies.
    init(capacity: Int) {
        precondition(capacity > 0, "at least one expiration is kept")
        self.capacity = capacity
    }

    /// Records `event`, the `expired` of its record, made by the event of stream sequence
    /// `madeAt`. O(1) amortized.
    func tell(_ event: KeyspaceEvent, madeAt: UInt64) {
        let record = event.record
        state.withLock { state in
            guard state.numbers[record] == nil else { return }
            state.numbers[record] = state.first + UInt64(state.entries.count)
            state.entries.append(Entry(event: event, madeAt: madeAt))
            while state.entries.count > capacity, let oldest = state.entries.first {
                Self.dropFirst(oldest, from: &state)
            }
        }
    }

    /// The copy of record `record`'s expiration came back from the stream. Before it enters the
    /// history: a subscriber that reads the history, then this store, finds one of the two.
    /// O(1) amortized.
    func copyArrived(record: UInt64) {
        state.withLock { state in
            guard let number = state.numbers.removeValue(forKey: record) else { return }
            state.entries[Int(number - state.first)].isBack = true
            while let oldest = state.entries.first, oldest.isBack {
                Self.dropFirst(oldest, from: &state)
            }
        }
    }

    /// The entries not back after number `cursor` (from the oldest kept for 0), at most
    /// `limit`, and the cursor after them. O(entries looked at).
    func entries(after cursor: UInt64, limit: Int) -> (entries: [Entry], cursor: UInt64) {
        state.withLock { state in
            var number = max(cursor + 1, state.first)
            var entries: [Entry] = []
            let end = state.first + UInt64(state.entries.count)
            while number < end && entries.count < limit {
                let entry = state.entries[Int(number - state.first)]
                if !entry.isBack {
                    entries.append(entry)
                }
                number += 1
            }
            return (entries, number - 1)
        }
    }

    private static func dropFirst(_ oldest: Entry, from state: inout State) {
        state.entries.removeFirst()
        state.first += 1
        if !oldest.isBack {
            state.numbers[oldest.event.record] = nil
        }
    }
}
