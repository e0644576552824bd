import DequeModule
import Keyspace
import Plumbing

/// What one gateway knows of the value stream, from its watch and its own writes: each key's
/// kind, sequence, size and deadline, in byte order for listings, and by deadline for expiry.
///
/// A key leaves the index when its expiry is handled: at its deadline (`takeDue`) when this
/// gateway wrote it, or is a queue. A string another gateway wrote is taken at its deadline
/// too, to be told ahead, then waits `standInDelay` more for that gateway's `expired` to come
/// back from the event stream (`forget`), and is taken again only if it has not. Listings hide
/// a key from its deadline, and the value stream drops it about a second later. O(log n) per
/// change; memory is about a hundred bytes per key plus the key.
final class KeyIndex: Sendable {
    /// One key as the index knows it.
    struct Entry: Sendable {
        var kind: Record.Kind
        var sequence: UInt64
        var version: Version
        var deadline: Timestamp?
        var size: Int
        var expiresInStorage: Bool
        /// Whether this gateway wrote it (and so announces its expiry).
        var isWrittenHere: Bool
        /// The stream sequence of the event that made this record, once the event feed brought
        /// it; 0 before.
        var madeAt: UInt64 = 0
        /// Whether its deadline was handled, and it waits for another gateway's `expired`
        /// (a string another gateway wrote, held a stand-in delay more).
        var isAwaitingCopy = false
        fileprivate var handle: Deadlines.Handle?
    }

    /// When each key's expiry is handled; a node holds no key, only its handle's slot, which
    /// `State.keysBySlot` maps to the key: sifting then moves plain numbers, where moving keys
    /// would retain and release each one it passes.
    fileprivate typealias Deadlines = DeadlineHeap<Timestamp, Void>

    private struct State {
        var entries: [Key: Entry] = [:]
        var order = SortedKeys()
        var deadlines = Deadlines()
        var keysBySlot: [Key?] = []
        /// Strings other gateways wrote whose deadline was handled here, in the order they are
        /// due to be stood in for (their deadlines', a stand-in delay later): a queue, not the
        /// heap, since they come in that order.
        var awaitingCopies: Deque<(due: Timestamp, key: Key, sequence: UInt64)> = []
        /// The highest sequence the watch delivered.
        var watched: UInt64 = 0
        var strings = 0
    }

    private let state = Mutex(State())
    /// This gateway, as records name their writer.
    private let gateway: String
    /// How long past its deadline a string another gateway wrote waits for that gateway's
    /// `expired`.
    private let standInDelay: Duration

    /// An empty index of what `gateway` sees, holding the strings other gateways wrote
    /// `standInDelay` past their deadline.
    init(gateway: String, standInDelay: Duration) {
        self.gateway = gateway
        self.standInDelay = standInDelay
    }

    /// Records the message of sequence `sequence` at `key`, unless the index already holds a
    /// later one; a deletion removes the key. `fromWatch` marks what the watch delivered (a
    /// write's own acknowledgement comes first). Returns whether the earliest deadline moved
    /// earlier (the expirer must look again). O(log n).
    @discardableResult
    func apply(_ record: Record, key: Key, fromWatch: Bool) -> Bool {
        state.withLock { state in
            if fromWatch {
                state.watched = max(state.watched, record.sequence)
            }
            if let existing = state.entries[key], existing.sequence >= record.sequence {
                return false
            }
            let earliest = state.deadlines.first?.deadline
            Self.remove(key, from: &state)
            guard record.kind != .deleted else { return false }
            var entry = Entry(
                kind: record.kind, sequence: record.sequence, version: record.version,
                deadline: record.deadline,
                size: record.size,
                expiresInStorage: record.expiresInStorage,
                isWrittenHere: !fromWatch || record.writer == gateway)
            if let deadline = record.deadline {
                entry.handle = Self.schedule(key, at: deadline, in: &state)
            }
            Self.insert(entry, for: key, into: &state)
            guard let due = record.deadline else { return false }
            return earliest.map { due < $0 } ?? true
        }
    }

    /// Drops `key` (its deletion is on its way to the stream). O(log n).
    func forget(_ key: Key) {
        state.withLock { state in Self.remove(key, from: &state) }
    }

    /// Drops `key` if the index holds it at sequence `sequence`: its expiry was announced,
    /// so this gateway has nothing left to do. Returns whether it dropped it before its
    /// deadline was handled here (the expiry is new to this gateway). O(log n).
    @discardableResult
    func forget(_ key: Key, sequence: UInt64) -> Bool {
        state.withLock { state in
            guard let entry = state.entries[key], entry.sequence == sequence else { return false }
            Self.remove(key, from: &state)
            return !entry.isAwaitingCopy
        }
    }

    /// Notes that the event of stream sequence `sequence` made `key`'s record `record`, if the
    /// index holds that record. O(1).
    func noteMade(_ key: Key, record: UInt64, at sequence: UInt64) {
        state.withLock { state in
            guard state.entries[key]?.sequence == record else { return }
            state.entries[key]?.madeAt = sequence
        }
    }

    /// The entry of `key`, if the index holds one.
    func entry(_ key: Key) -> Entry? {
        state.withLock { $0.entries[key] }
    }

    /// Whether the watch has delivered anything yet (before, the index knows nothing).
    var isWatching: Bool {
        state.withLock { $0.watched > 0 }
    }

    /// The highest sequence the watch has delivered.
    var watchedSequence: UInt64 {
        state.withLock { $0.watched }
    }

    /// The number of string keys held.
    var stringCount: Int {
        state.withLock { $0.strings }
    }

    /// Returns up to `limit` keys whose expiry is due at or before `now`, earliest first, with
    /// the next time one is due. Each leaves the index, but for a string another gateway wrote
    /// taken at its deadline: it stays, awaiting that gateway's `expired` a stand-in delay
    /// more (`Entry.isAwaitingCopy` tells the two takings apart). O(k log n).
    func takeDue(now: Timestamp, limit: Int) -> (due: [(Key, Entry)], next: Timestamp?) {
        state.withLock { state in
            var due: [(Key, Entry)] = []
            while due.count < limit {
                let first = state.deadlines.first.flatMap { $0.deadline <= now ? $0 : nil }
                if let awaiting = state.awaitingCopies.first, awaiting.due <= now,
                    first.map({ awaiting.due <= $0.deadline }) ?? true
                {
                    state.awaitingCopies.removeFirst()
                    // Gone, or written again, meanwhile: nothing to stand in for.
                    guard let entry = state.entries[awaiting.key], entry.sequence == awaiting.sequence,
                        entry.isAwaitingCopy
                    else { continue }
                    due.append((awaiting.key, entry))
                    Self.remove(awaiting.key, from: &state)
                    continue
                }
                guard let first else { break }
                guard let key = state.keysBySlot[Int(first.handle.rawValue)], let entry = state.entries[key]
                else { preconditionFailure("a deadline outlived its key") }
                due.append((key, entry))
                guard entry.kind == .string && !entry.isWrittenHere else {
                    Self.remove(key, from: &state)
                    continue
                }
                state.deadlines.remove(first.handle)
                state.keysBySlot[Int(first.handle.rawValue)] = nil
                state.entries[key]?.handle = nil
                state.entries[key]?.isAwaitingCopy = true
                state.awaitingCopies.append((first.deadline + standInDelay, key, entry.sequence))
            }
            var next = state.deadlines.first?.deadline
            if let awaiting = state.awaitingCopies.first?.due {
                next = min(next ?? awaiting, awaiting)
            }
            return (due, next)
        }
    }

    /// Up to `limit` live string keys with `prefix` after `cursor`, in byte order, with their
    /// entries; and whether more follow. O(log n + keys looked at).
    func strings(prefix: [UInt8], after cursor: Key?, limit: Int, now: Timestamp) -> (
        rows: [(Key, Entry)], more: Bool
    ) {
        var start = prefix
        var strictly = false
        if let cursor, !cursor.bytes.lexicographicallyPrecedes(prefix) {
            start = cursor.bytes
            strictly = true
        }
        return state.withLock { state in
            var rows: [(Key, Entry)] = []
            var more = false
            state.order.forEach(from: start, strictly: strictly) { key in
                guard key.hasPrefix(prefix) else { return false }
                guard let entry = state.entries[key], entry.kind == .string,
                    entry.deadline.map({ now < $0 }) ?? true
                else { return true }
                guard rows.count < limit else {
                    more = true
                    return false
                }
                rows.append((key, entry))
                return true
            }
            return (rows, more)
        }
    }

    private static func schedule(_ key: Key, at due: Timestamp, in state: inout State) -> Deadlines.Handle {
        let handle = state.deadlines.insert((), deadline: due)
        let slot = Int(handle.rawValue)
        if slot == state.keysBySlot.count {
            state.keysBySlot.append(key)
        } else {
            state.keysBySlot[slot] = key
        }
        return handle
    }

    private static func insert(_ entry: Entry, for key: Key, into state: inout State) {
        state.entries[key] = entry
        state.order.insert(key)
        if entry.kind == .string {
            state.strings += 1
        }
    }

    private static func remove(_ key: Key, from state: inout State) {
        guard let entry = state.entries.removeValue(forKey: key) else { return }
        state.order.remove(key)
        if let handle = entry.handle {
            state.deadlines.remove(handle)
            state.keysBySlot[Int(handle.rawValue)] = nil
        }
        if entry.kind == .string {
            state.strings -= 1
        }
    }
}
