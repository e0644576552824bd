/// The entries by key, in 64 hash tables rather than one.
///
/// A single Swift dictionary rehashes every entry when it doubles: at a million keys that is a
/// pause of hundreds of milliseconds for every operation waiting on the keyspace's lock. Split
/// 64 ways, a table that grows rehashes a 64th of the keys. Lookups cost one cheap extra hash
/// (FNV-1a over the key's bytes) to pick the table.
struct EntryTable {
    private static let tableCount = 64
    private var tables = [[Key: Entry]](repeating: [:], count: tableCount)

    /// The number of entries. O(1).
    private(set) var count = 0

    /// The entry of `key`; setting `nil` removes it. O(1) on average.
    subscript(key: Key) -> Entry? {
        get { tables[Self.table(of: key)][key] }
        set {
            let table = Self.table(of: key)
            if let newValue {
                if tables[table].updateValue(newValue, forKey: key) == nil {
                    count += 1
                }
            } else if tables[table].removeValue(forKey: key) != nil {
                count -= 1
            }
        }
    }

    /// Every entry, in no particular order. O(n).
    var values: [Entry] {
        tables.flatMap(\.values)
    }

    /// Removes and returns the entry of `key`.
    mutating func removeValue(forKey key: Key) -> Entry? {
        let removed = tables[Self.table(of: key)].removeValue(forKey: key)
        if removed != nil {
            count -= 1
        }
        return removed
    }

    /// Runs `body` on the entry of `key` in place, without copying it; `nil` when absent.
    mutating func modify<Result>(_ key: Key, _ body: (inout Entry) -> Result) -> Result? {
        let table = Self.table(of: key)
        guard let index = tables[table].index(forKey: key) else { return nil }
        return body(&tables[table].values[index])
    }

    private static func table(of key: Key) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in key.bytes {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return Int(hash % UInt32(tableCount))
    }
}
