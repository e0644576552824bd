import Keyspace
import Plumbing

/// What one gateway knows of the value stream, from its watch and its own writes: each key's
/// kind, sequence, size and deadline, in byte order for listings, and by deadline for expiry.
///
/// A key leaves the index at its deadline (`takeDue`), so listings never show it again; the
/// value stream drops it about a second later. O(log n) per change; memory is about a hundred
/// bytes per key plus the key.
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
        fileprivate var handle: DeadlineHeap<Timestamp, Key>.Handle?
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var order = SortedKeys()
        var deadlines = DeadlineHeap<Timestamp, Key>()
        /// The highest sequence the watch delivered.
        var watched: UInt64 = 0
        var strings = 0
    }

    private let state = Mutex(State())
    /// This gateway, as records name their writer.
    private let gateway: String

    /// An empty index of what `gateway` sees.
    init(gateway: String) {
        self.gateway = gateway
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
                entry.handle = state.deadlines.insert(key, deadline: deadline)
            }
            state.entries[key] = entry
            state.order.insert(key)
            if record.kind == .string {
                state.strings += 1
            }
            guard let deadline = record.deadline else { return false }
            return earliest.map { deadline < $0 } ?? true
        }
    }

    /// Drops `key` (its deletion is on its way to the stream). O(log n).
    func forget(_ key: Key) {
        state.withLock { state in Self.remove(key, from: &state) }
    }

    /// Drops `key` if the index holds it at sequence `sequence` (its expiry was announced by
    /// another gateway, so this one has nothing left to do at its deadline). O(log n).
    func forget(_ key: Key, sequence: UInt64) {
        state.withLock { state in
            if state.entries[key]?.sequence == sequence {
                Self.remove(key, from: &state)
            }
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

    /// Removes and returns up to `limit` keys whose deadline is at or before `now`, earliest
    /// first, with the next deadline left. O(k log n).
    func takeDue(now: Timestamp, limit: Int) -> (due: [(Key, Entry)], next: Timestamp?) {
        state.withLock { state in
            var due: [(Key, Entry)] = []
            while due.count < limit, let first = state.deadlines.first, first.deadline <= now {
                if let entry = state.entries[first.element], entry.handle == first.handle {
                    due.append((first.element, entry))
                    Self.remove(first.element, from: &state)
                } else {
                    _ = state.deadlines.remove(first.handle)
                }
            }
            return (due, state.deadlines.first?.deadline)
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

    private static func remove(_ key: Key, from state: inout State) {
        guard let entry = state.entries.removeValue(forKey: key) else { return }
        state.order.remove(key)
        if let handle = entry.handle {
            _ = state.deadlines.remove(handle)
        }
        if entry.kind == .string {
            state.strings -= 1
        }
    }
}
