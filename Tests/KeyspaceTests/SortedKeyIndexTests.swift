import KeygateTestSupport
import Testing

@testable import Keyspace

@Suite("Ordered key index")
struct SortedKeyIndexTests {
    @Test(arguments: [7, 8])
    func agreesWithASortedModelUnderRandomOperations(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        var table = EntryTable()
        var index = SortedKeyIndex()
        var model = Set<Key>()
        // Enough keys for many chunk splits and merges.
        for _ in 0..<30_000 {
            let key = try Key("key-\(Int.random(in: 0..<5_000, using: &random))")
            if model.contains(key) {
                let slot = try #require(table.index(of: key, hash: EntryTable.hash(key)))
                index.remove(slot, in: table)
                // The last slot moves into the one freed, as the keyspace renumbers it.
                let last = UInt32(table.count - 1)
                if last != slot {
                    index.renumber(last, to: slot, in: table)
                }
                table.remove(slot)
                model.remove(key)
            } else {
                index.insert(table.insert(key), in: table)
                model.insert(key)
            }
        }
        #expect(index.count == model.count)
        #expect(table.count == model.count)
        var listed: [Key] = []
        index.forEach(from: [], strictly: false, in: table) {
            listed.append(table[$0].key)
            return true
        }
        #expect(listed == model.sorted())
    }

    @Test func keysLoadedInOrderFillTheirChunks() throws {
        var table = EntryTable()
        var index = SortedKeyIndex()
        for number in 0..<20_000 {
            index.insert(table.insert(try Key("key:\(100_000 + number)")), in: table)
        }
        // Full chunks, 4 bytes a key, and a little for the headers and the last chunk.
        #expect(index.indexBytes < 20_000 * 5)
        var listed = 0
        index.forEach(from: [], strictly: false, in: table) { _ in
            listed += 1
            return true
        }
        #expect(listed == 20_000)
    }

    @Test func startsAtOrAfterABound() throws {
        var table = EntryTable()
        var index = SortedKeyIndex()
        for text in ["b", "d", "f"] {
            index.insert(table.insert(try Key(text)), in: table)
        }
        func keys(from start: String, strictly: Bool) -> [String] {
            var found: [String] = []
            index.forEach(from: Array(start.utf8), strictly: strictly, in: table) {
                found.append(table[$0].key.text)
                return true
            }
            return found
        }
        #expect(keys(from: "a", strictly: false) == ["b", "d", "f"])
        #expect(keys(from: "d", strictly: false) == ["d", "f"])
        #expect(keys(from: "d", strictly: true) == ["f"])
        #expect(keys(from: "e", strictly: true) == ["f"])
        #expect(keys(from: "g", strictly: false) == [])
    }
}
