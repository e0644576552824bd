import Testing

@testable import Keyspace

@Suite("Expiry index")
struct DeadlineHeapTests {
    @Test(arguments: [1, 2, 3])
    func agreesWithASortedModelUnderRandomOperations(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        var heap = DeadlineHeap()
        var model: [Key: (deadline: Timestamp, handle: DeadlineHeap.Handle)] = [:]
        for step in 0..<20_000 {
            let key = try Key("k\(Int.random(in: 0..<500, using: &random))")
            let deadline = Timestamp(milliseconds: Int64.random(in: 0..<10_000, using: &random))
            switch (Int.random(in: 0..<4, using: &random), model[key]) {
            case (0, nil), (1, nil):
                model[key] = (deadline, heap.insert(key, deadline: deadline))
            case (0, let entry?), (1, let entry?):
                heap.update(entry.handle, deadline: deadline)
                model[key] = (deadline, entry.handle)
            case (2, let entry?):
                heap.remove(entry.handle)
                model[key] = nil
            default:
                if let first = heap.first {
                    #expect(first.deadline == model.values.map(\.deadline).min())
                    heap.remove(model[first.key]!.handle)
                    model[first.key] = nil
                }
            }
            if step % 997 == 0 {
                #expect(heap.isConsistent)
            }
            #expect(heap.count == model.count)
        }
        #expect(heap.isConsistent)
        var previous = Timestamp(milliseconds: .min)
        while let first = heap.first {
            #expect(first.deadline >= previous)
            #expect(model[first.key]?.deadline == first.deadline)
            previous = first.deadline
            heap.remove(model[first.key]!.handle)
            model[first.key] = nil
        }
        #expect(model.isEmpty)
    }
}

/// A deterministic generator (SplitMix64), so a failing sequence can be replayed.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
