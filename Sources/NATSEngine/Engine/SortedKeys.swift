import Keyspace

/// Every key a gateway knows of, in byte order, for listings by prefix that resume from a cursor.
///
/// A list of sorted chunks (the layout of Python's `sortedcontainers`): a binary search over
/// each chunk's last key finds the chunk, a second one the position in it. Insert and remove
/// are O(log n) searches plus a move of at most `2 × chunkSize` references.
struct SortedKeys {
    /// The target chunk length; a chunk splits at twice this and merges below a quarter.
    private static let chunkSize = 512

    private var chunks: [[Key]] = []
    /// `lastKeys[i] == chunks[i].last!`, searched to find a chunk.
    private var lastKeys: [Key] = []

    /// The number of keys.
    private(set) var count = 0

    /// An empty index.
    init() {}

    /// Adds a key that is not in the index.
    mutating func insert(_ key: Key) {
        count += 1
        guard !chunks.isEmpty else {
            chunks = [[key]]
            lastKeys = [key]
            return
        }
        let chunk: Int
        let position: Int
        // Keys coming in order (a snapshot or a log being loaded) go at the end: one comparison.
        if let last = lastKeys.last, ByteOrder.compare(last.bytes, key.bytes) < 0 {
            chunk = chunks.count - 1
            position = chunks[chunk].count
        } else {
            chunk = min(firstChunk(endingAtOrAfter: key.bytes, strictly: false), chunks.count - 1)
            position = Self.firstIndex(in: chunks[chunk], atOrAfter: key.bytes, strictly: false)
        }
        chunks[chunk].insert(key, at: position)
        lastKeys[chunk] = chunks[chunk][chunks[chunk].count - 1]
        if chunks[chunk].count > 2 * Self.chunkSize {
            let upper = Array(chunks[chunk][Self.chunkSize...])
            chunks[chunk].removeSubrange(Self.chunkSize...)
            chunks.insert(upper, at: chunk + 1)
            lastKeys[chunk] = chunks[chunk][chunks[chunk].count - 1]
            lastKeys.insert(upper[upper.count - 1], at: chunk + 1)
        }
    }

    /// Removes a key that is in the index.
    mutating func remove(_ key: Key) {
        let chunk = firstChunk(endingAtOrAfter: key.bytes, strictly: false)
        precondition(chunk < chunks.count, "removing a key that is not indexed")
        let position = Self.firstIndex(in: chunks[chunk], atOrAfter: key.bytes, strictly: false)
        precondition(chunks[chunk][position] == key, "removing a key that is not indexed")
        count -= 1
        chunks[chunk].remove(at: position)
        if chunks[chunk].isEmpty {
            chunks.remove(at: chunk)
            lastKeys.remove(at: chunk)
            return
        }
        lastKeys[chunk] = chunks[chunk][chunks[chunk].count - 1]
        if chunks[chunk].count < Self.chunkSize / 4 && chunks.count > 1 {
            mergeWithNeighbour(chunk)
        }
    }

    /// Calls `body` with each key from the first one after `start`, in order, until `body`
    /// returns `false`. O(log n) to start, O(1) per key.
    ///
    /// - Parameter strictly: `true` to start after `start`, `false` to start at it.
    func forEach(from start: [UInt8], strictly: Bool, _ body: (Key) -> Bool) {
        var chunk = firstChunk(endingAtOrAfter: start, strictly: strictly)
        guard chunk < chunks.count else { return }
        var position = Self.firstIndex(in: chunks[chunk], atOrAfter: start, strictly: strictly)
        while chunk < chunks.count {
            let keys = chunks[chunk]
            while position < keys.count {
                guard body(keys[position]) else { return }
                position += 1
            }
            chunk += 1
            position = 0
        }
    }

    /// The first chunk whose last key is at or after `bound` (after it when `strictly`), or
    /// `chunks.count` when none is.
    private func firstChunk(endingAtOrAfter bound: [UInt8], strictly: Bool) -> Int {
        Self.firstIndex(in: lastKeys, atOrAfter: bound, strictly: strictly)
    }

    /// Binary search in sorted `keys`: the first position at or after `bound` (after it when
    /// `strictly`). O(log n).
    private static func firstIndex(in keys: [Key], atOrAfter bound: [UInt8], strictly: Bool)
        -> Int
    {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            let order = ByteOrder.compare(keys[middle].bytes, bound)
            if order > 0 || (order == 0 && !strictly) {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return low
    }

    private mutating func mergeWithNeighbour(_ chunk: Int) {
        let left = chunk > 0 ? chunk - 1 : chunk
        chunks[left].append(contentsOf: chunks[left + 1])
        chunks.remove(at: left + 1)
        lastKeys.remove(at: left)
        if chunks[left].count > 2 * Self.chunkSize {
            let middle = chunks[left].count / 2
            let upper = Array(chunks[left][middle...])
            chunks[left].removeSubrange(middle...)
            chunks.insert(upper, at: left + 1)
            lastKeys.insert(chunks[left][chunks[left].count - 1], at: left)
        }
    }
}
