import Dispatch
import KeygateTestSupport
import Plumbing
import Testing

@Suite("Deadline queue")
struct DeadlineQueueTests {
    @Test func runsActionsInDeadlineOrder() {
        let queue = DeadlineQueue(name: "test-deadlines")
        queue.start()
        defer { queue.stop() }
        let order = TestLock<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        for (index, milliseconds) in [40, 10, 30, 20].enumerated() {
            _ = queue.schedule(after: .milliseconds(milliseconds)) {
                order.withLock { $0.append(index) }
                done.signal()
            }
        }
        for _ in 0..<4 {
            #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        }
        #expect(order.withLock { $0 } == [1, 3, 2, 0])
        #expect(queue.count == 0)
    }

    @Test func aCancelledActionNeverRuns() {
        let queue = DeadlineQueue(name: "test-deadlines")
        queue.start()
        defer { queue.stop() }
        let ran = TestLock<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let cancelled = queue.schedule(after: .milliseconds(20)) { ran.withLock { $0.append("cancelled") } }
        _ = queue.schedule(after: .milliseconds(40)) {
            ran.withLock { $0.append("kept") }
            done.signal()
        }
        #expect(queue.cancel(cancelled))
        #expect(!queue.cancel(cancelled))
        #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(ran.withLock { $0 } == ["kept"])
    }

    @Test func aTicketOfAnActionThatRanCancelsNothingElse() {
        let queue = DeadlineQueue(name: "test-deadlines")
        queue.start()
        defer { queue.stop() }
        let first = DispatchSemaphore(value: 0)
        let ticket = queue.schedule(after: .zero) { first.signal() }
        #expect(first.wait(timeout: .now() + .seconds(10)) == .success)
        // Likely reuses the first action's slot in the heap.
        let second = DispatchSemaphore(value: 0)
        _ = queue.schedule(after: .milliseconds(10)) { second.signal() }
        #expect(!queue.cancel(ticket))
        #expect(second.wait(timeout: .now() + .seconds(10)) == .success)
    }

    @Test func anEarlierDeadlineWakesTheThread() {
        let queue = DeadlineQueue(name: "test-deadlines")
        queue.start()
        defer { queue.stop() }
        _ = queue.schedule(after: .seconds(3600)) {}
        let done = DispatchSemaphore(value: 0)
        let scheduled = ContinuousClock.now
        _ = queue.schedule(after: .milliseconds(10)) { done.signal() }
        #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(ContinuousClock.now - scheduled < TestTiming.scaled(.seconds(2)))
    }
}
