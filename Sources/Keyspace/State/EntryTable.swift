/// Every key's stored value, in a slab of slots addressed by 32-bit indexes, found by key
/// through 64 open-addressing hash tables of those indexes.
///
/// A slot is 16 bytes: the record's reference, the key's hash and 32 bits kept for the eviction
/// policy. The other indexes (ordered index, expiry heap) name keys by slot index, 4 bytes, so
/// that a key's bytes are stored once, in its record. The slab has no holes: removing a key
/// moves the last slot into its place (its owner renumbers it in the other indexes first), so
/// that a random index below `count` is a uniformly sampled key.
///
/// The slab is split in pages of 4 096 slots and the hash table in 64, so that a snapshot can
/// share both copy-on-write and a writer then copies one page or one table, never the whole;
/// and a table that grows rehashes a 64th of the keys, from the hashes in the slots (no key is
/// read again). Lookups hash the key once (seeded, so that clients cannot choose colliding keys).
struct EntryTable {
    /// One slot of the slab.
    struct Slot {
        /// The value; `nil` when the slot is free.
        var stored: StoredValue?
        /// The key's hash.
        var hash: UInt32
        /// What the eviction policy keeps for the key (an access time or a frequency).
        var meta: UInt32
    }

    /// The buckets of one hash table: slot index + 1, or 0 for an empty bucket.
    private struct Table {
        var buckets: [UInt32] = []
        var count = 0
    }

    private static let pageShift = 12
    private static let pageSize = 1 << pageShift
    private static let tableShift = 26
    private static let seed = UInt64.random(in: .min ... .max)

    private var pages: [[Slot]] = []
    private var tables = [Table](repeating: Table(), count: 1 << (32 - tableShift))

    /// The number of keys. O(1).
    private(set) var count = 0
    /// The heap bytes of the slab and hash tables' buckets.
    var indexBytes: Int {
        pages.count * Self.pageSize * MemoryLayout<Slot>.stride
            + tables.reduce(0) { $0 + $1.buckets.count * 4 }
    }

    /// The hash of a key's bytes. O(length).
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var hash = seed ^ (UInt64(bytes.count) &* 0x9E37_79B9_7F4A_7C15)
        var offset = 0
        while offset + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            hash = (hash ^ word) &* 0xBF58_476D_1CE4_E5B9
            hash ^= hash >> 31
            offset += 8
        }
        if offset < bytes.count {
            var word: UInt64 = 0
            for index in offset..<bytes.count {
                word = word << 8 | UInt64(bytes[index])
            }
            hash = (hash ^ word) &* 0xBF58_476D_1CE4_E5B9
        }
        hash ^= hash >> 33
        hash &*= 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        hash &*= 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return UInt32(truncatingIfNeeded: hash)
    }

    /// The hash of `key`.
    static func hash(_ key: Key) -> UInt32 {
        key.bytes.withUnsafeBytes { hash($0) }
    }

    /// The slot index of `key` with hash `hash`, `nil` when absent. O(1) on average.
    func index(of key: Key, hash: UInt32) -> UInt32? {
        let table = Int(hash >> Self.tableShift)
        return tables[table].buckets.withUnsafeBufferPointer { buckets -> UInt32? in
            guard !buckets.isEmpty else { return nil }
            let mask = buckets.count - 1
            var position = Int(hash) & mask
            while true {
                let bucket = buckets[position]
                guard bucket != 0 else { return nil }
                let index = bucket - 1
                if slotHash(index) == hash, matches(index, key) {
                    return index
                }
                position = (position + 1) & mask
            }
        }
    }

    /// The value in slot `index`, which must be in use.
    subscript(index: UInt32) -> StoredValue {
        get {
            guard let stored = pages[Int(index) >> Self.pageShift][Int(index) & (Self.pageSize - 1)].stored
            else {
                preconditionFailure("reading a free slot")
            }
            return stored
        }
        set {
            pages[Int(index) >> Self.pageShift][Int(index) & (Self.pageSize - 1)].stored = newValue
        }
    }

    /// Whether slot `index` holds a string, and with `withDeadline` one that has a deadline:
    /// what eviction may take. Reads the slot in place, copying nothing.
    func holdsString(at index: UInt32, withDeadline: Bool) -> Bool {
        guard Int(index) < count else { return false }
        switch pages[Int(index) >> Self.pageShift][Int(index) & (Self.pageSize - 1)].stored {
        case .string(let record)?: return !withDeadline || record.header.deadline != .max
        case .queue?, nil: return false
        }
    }

    /// The key hash kept in slot `index`.
    func slotHash(_ index: UInt32) -> UInt32 {
        pages[Int(index) >> Self.pageShift][Int(index) & (Self.pageSize - 1)].hash
    }

    /// The policy's word of slot `index`.
    func meta(_ index: UInt32) -> UInt32 {
        pages[Int(index) >> Self.pageShift][Int(index) & (Self.pageSize - 1)].meta
    }

    /// Sets the policy's word of slot `index`.
    mutating func setMeta(_ meta: UInt32, at index: UInt32) {
        pages[Int(index) >> Self.pageShift][Int(index) & (Self.pageSize - 1)].meta = meta
    }

    /// Takes the value out of slot `index` (left empty until `restore` puts one back), so that
    /// its record is uniquely referenced while it changes.
    mutating func take(_ index: UInt32) -> StoredValue {
        guard let stored = pages[Int(index) >> Self.pageShift][Int(index) & (Self.pageSize - 1)].stored.take()
        else {
            preconditionFailure("taking a free slot")
        }
        return stored
    }

    /// Calls `body` with the bytes of the key in slot `index`.
    func withKeyBytes<Result>(_ index: UInt32, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        self[index].withKeyBytes(body)
    }

    /// Adds `stored` for a key that is absent, with its `hash`, in the slot after the last;
    /// returns its index. O(1) on average; a table that grows rehashes its keys, a 64th of them.
    mutating func insert(_ stored: consuming StoredValue, hash: UInt32, meta: UInt32) -> UInt32 {
        precondition(count < Int(UInt32.max), "more keys than a 32-bit index can name")
        let index = UInt32(count)
        if count & (Self.pageSize - 1) == 0 {
            var page: [Slot] = []
            page.reserveCapacity(Self.pageSize)
            pages.append(page)
        }
        pages[pages.count - 1].append(Slot(stored: stored, hash: hash, meta: meta))
        let table = Int(hash >> Self.tableShift)
        if (tables[table].count + 1) * 4 > tables[table].buckets.count * 3 {
            grow(table)
        }
        place(index, hash: hash, in: table)
        tables[table].count += 1
        count += 1
        return index
    }

    /// Removes the key in slot `index` and moves the last slot's key into it (renumber that
    /// key from `count - 1` to `index` in other indexes first); returns the value removed.
    /// O(1) on average.
    @discardableResult
    mutating func remove(_ index: UInt32) -> StoredValue {
        unlink(index)
        let last = UInt32(count - 1)
        if last != index {
            // The last key's bucket now names its new slot.
            let lastHash = slotHash(last)
            let table = Int(lastHash >> Self.tableShift)
            tables[table].buckets.withUnsafeMutableBufferPointer { buckets in
                let mask = buckets.count - 1
                var position = Int(lastHash) & mask
                while buckets[position] != last + 1 {
                    position = (position + 1) & mask
                }
                buckets[position] = index + 1
            }
        }
        count -= 1
        let stored = take(index)
        let moved = pages[pages.count - 1].removeLast()
        if pages[pages.count - 1].isEmpty {
            pages.removeLast()
        }
        if last != index {
            pages[Int(index) >> Self.pageShift][Int(index) & (Self.pageSize - 1)] = moved
        }
        return stored
    }

    /// Takes slot `index` out of its hash table.
    private mutating func unlink(_ index: UInt32) {
        let hash = slotHash(index)
        let table = Int(hash >> Self.tableShift)
        // Taken out while it changes, so that the slots' hashes can be read meanwhile.
        var taken = tables[table].buckets
        tables[table].buckets = []
        taken.withUnsafeMutableBufferPointer { buckets in
            let mask = buckets.count - 1
            var hole = Int(hash) & mask
            while buckets[hole] != index + 1 {
                precondition(buckets[hole] != 0, "removing a key that is not in its table")
                hole = (hole + 1) & mask
            }
            // Backward shift: later keys of the run move into the hole when their home allows,
            // so that no tombstone is left.
            var next = (hole + 1) & mask
            while buckets[next] != 0 {
                let home = Int(slotHash(buckets[next] - 1)) & mask
                if (next - home) & mask >= (next - hole) & mask {
                    buckets[hole] = buckets[next]
                    hole = next
                }
                next = (next + 1) & mask
            }
            buckets[hole] = 0
        }
        tables[table].buckets = taken
        tables[table].count -= 1
    }

    /// Every value, in slot order; for tests. O(n).
    var values: [StoredValue] {
        pages.flatMap { $0.compactMap(\.stored) }
    }

    /// Whether the key in slot `index` is `key`.
    private func matches(_ index: UInt32, _ key: Key) -> Bool {
        withKeyBytes(index) { stored in
            key.bytes.withUnsafeBytes { ByteOrder.equal(stored, $0) }
        }
    }

    /// Puts `index` in the first empty bucket of its run.
    private mutating func place(_ index: UInt32, hash: UInt32, in table: Int) {
        tables[table].buckets.withUnsafeMutableBufferPointer { buckets in
            let mask = buckets.count - 1
            var position = Int(hash) & mask
            while buckets[position] != 0 {
                position = (position + 1) & mask
            }
            buckets[position] = index + 1
        }
    }

    /// Doubles a table, placing its keys again by the hashes kept in their slots.
    private mutating func grow(_ table: Int) {
        let old = tables[table].buckets
        tables[table].buckets = [UInt32](repeating: 0, count: max(8, old.count * 2))
        for bucket in old where bucket != 0 {
            place(bucket - 1, hash: slotHash(bucket - 1), in: table)
        }
    }
}
