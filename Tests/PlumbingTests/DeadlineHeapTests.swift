import KeygateTestSupport
import Plumbing
import Testing

@Suite("Deadline heap")
struct DeadlineHeapTests {
    @Test(arguments: [1, 2, 3])
    func agreesWithASortedModelUnderRandomOperations(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var heap = DeadlineHeap<Int64, String>()
        var model: [String: (deadline: Int64, handle: DeadlineHeap<Int64, String>.Handle)] = [:]
        for step in 0..<20_000 {
            let key = "k\(Int.random(in: 0..<500, using: &random))"
            let deadline = Int64.random(in: 0..<10_000, using: &random)
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
                    heap.remove(model[first.element]!.handle)
                    model[first.element] = nil
                }
            }
            if step % 997 == 0 {
                #expect(heap.isConsistent)
            }
            #expect(heap.count == model.count)
        }
        #expect(heap.isConsistent)
        var previous = Int64.min
        while let first = heap.first {
            #expect(first.deadline >= previous)
            #expect(model[first.element]?.deadline == first.deadline)
            previous = first.deadline
            heap.remove(model[first.element]!.handle)
            model[first.element] = nil
        }
        #expect(model.isEmpty)
    }
}
