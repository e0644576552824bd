/// Every key in byte order, for listings by prefix that resume from a cursor.
///
/// A list of sorted chunks (the layout of Python's `sortedcontainers`) of slot indexes of the
/// `EntryTable`, 4 bytes a key, the key's bytes read from its record: a binary search over each
/// chunk's last key finds the chunk, a second one the position in it (remove and renumber,
/// which know the slot, scan the chunk for it instead). Insert and remove are O(log n)
/// searches plus a move or scan of at most `2 × chunkSize` indexes.
struct SortedKeyIndex {
    /// The target chunk length; a chunk splits at twice this and merges below a quarter.
    private static let chunkSize = 512

    private var chunks: [[UInt32]] = []
    /// `lastKeys[i] == chunks[i].last!`, searched to find a chunk.
    private var lastKeys: [UInt32] = []

    /// The number of keys.
    private(set) var count = 0

    /// The heap bytes of the chunks.
    var indexBytes: Int {
        chunks.reduce(lastKeys.capacity * 4) {
            $0 + MemoryCost.allocation(MemoryCost.arrayHeader + $1.capacity * 4)
        }
    }

    /// Adds the key of slot `index` of `table`, which is not in the index.
    mutating func insert(_ index: UInt32, in table: EntryTable) {
        count += 1
        guard !chunks.isEmpty else {
            chunks = [[index]]
            lastKeys = [index]
            return
        }
        table.withKeyBytes(index) { key in
            let chunk: Int
            let position: Int
            // Keys coming in order (a snapshot or a log being loaded) go at the end: one comparison.
            if let last = lastKeys.last, table.withKeyBytes(last, { ByteOrder.compare($0, key) }) < 0 {
                if chunks[chunks.count - 1].count >= 2 * Self.chunkSize {
                    // A full last chunk stays full: keys loaded in order fill chunks to the
                    // brim, 4 bytes a key, instead of leaving each half empty by a split.
                    var next: [UInt32] = []
                    // Room for the whole chunk at once: growing by doubling would leave it
                    // half empty when full.
                    next.reserveCapacity(2 * Self.chunkSize)
                    next.append(index)
                    chunks.append(next)
                    lastKeys.append(index)
                    return
                }
                chunk = chunks.count - 1
                position = chunks[chunk].count
            } else {
                chunk = min(
                    Self.firstIndex(in: lastKeys, atOrAfter: key, strictly: false, table), chunks.count - 1)
                position = Self.firstIndex(in: chunks[chunk], atOrAfter: key, strictly: false, table)
            }
            chunks[chunk].insert(index, at: position)
            lastKeys[chunk] = chunks[chunk][chunks[chunk].count - 1]
            if chunks[chunk].count > 2 * Self.chunkSize {
                let upper = Array(chunks[chunk][Self.chunkSize...])
                // A new array, not `removeSubrange`, which would keep the whole capacity.
                chunks[chunk] = Array(chunks[chunk][..<Self.chunkSize])
                chunks.insert(upper, at: chunk + 1)
                lastKeys[chunk] = chunks[chunk][chunks[chunk].count - 1]
                lastKeys.insert(upper[upper.count - 1], at: chunk + 1)
            }
        }
    }

    /// Removes the key of slot `index`, which is in the index and still in `table`.
    mutating func remove(_ index: UInt32, in table: EntryTable) {
        table.withKeyBytes(index) { key in
            let chunk = Self.firstIndex(in: lastKeys, atOrAfter: key, strictly: false, table)
            precondition(chunk < chunks.count, "removing a key that is not indexed")
            guard let position = Self.position(of: index, in: chunks[chunk]) else {
                preconditionFailure("removing a key that is not indexed")
            }
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
    }

    /// Names the key of slot `old` of `table`, which is in the index, by `new` instead: its
    /// slot is about to move. O(log n + chunk size).
    mutating func renumber(_ old: UInt32, to new: UInt32, in table: EntryTable) {
        table.withKeyBytes(old) { key in
            let chunk = Self.firstIndex(in: lastKeys, atOrAfter: key, strictly: false, table)
            guard chunk < chunks.count, let position = Self.position(of: old, in: chunks[chunk]) else {
                preconditionFailure("renumbering a key that is not indexed")
            }
            chunks[chunk][position] = new
            if lastKeys[chunk] == old {
                lastKeys[chunk] = new
            }
        }
    }

    /// Calls `body` with the slot index of each key from the first one after `start`, in
    /// order, until `body` returns `false`. O(log n) to start, O(1) per key.
    ///
    /// - Parameter strictly: `true` to start after `start`, `false` to start at it.
    func forEach(from start: [UInt8], strictly: Bool, in table: EntryTable, _ body: (UInt32) -> Bool) {
        var (chunk, position) = start.withUnsafeBytes { start in
            let chunk = Self.firstIndex(in: lastKeys, atOrAfter: start, strictly: strictly, table)
            guard chunk < chunks.count else { return (chunk, 0) }
            return (chunk, Self.firstIndex(in: chunks[chunk], atOrAfter: start, strictly: strictly, table))
        }
        while chunk < chunks.count {
            let indexes = chunks[chunk]
            while position < indexes.count {
                guard body(indexes[position]) else { return }
                position += 1
            }
            chunk += 1
            position = 0
        }
    }

    /// The position of slot `index` in `indexes`, `nil` when absent. A scan, eight indexes a
    /// step: reading a chunk's 4 KiB in order costs less than a binary search's ten key
    /// comparisons, each a cache miss on another record. O(chunk size).
    private static func position(of index: UInt32, in indexes: [UInt32]) -> Int? {
        indexes.withUnsafeBufferPointer { indexes in
            guard let base = indexes.baseAddress else { return nil }
            let raw = UnsafeRawPointer(base)
            let wanted = SIMD8<UInt32>(repeating: index)
            var position = 0
            while position + 8 <= indexes.count {
                let lanes = raw.loadUnaligned(fromByteOffset: position * 4, as: SIMD8<UInt32>.self)
                if any(lanes .== wanted) {
                    break
                }
                position += 8
            }
            while position < indexes.count {
                if indexes[position] == index {
                    return position
                }
                position += 1
            }
            return nil
        }
    }

    /// Binary search in `indexes`, whose keys are sorted: the first position at or after
    /// `bound` (after it when `strictly`). O(log n).
    private static func firstIndex(
        in indexes: [UInt32], atOrAfter bound: UnsafeRawBufferPointer, strictly: Bool, _ table: EntryTable
    ) -> Int {
        var low = 0
        var high = indexes.count
        while low < high {
            let middle = (low + high) / 2
            let order = table.withKeyBytes(indexes[middle]) { ByteOrder.compare($0, bound) }
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
