import Dispatch
import KeygateTestSupport
import Plumbing
import Testing

@Suite("Blocking pool")
struct BlockingPoolTests {
    @Test func jobsThatWaitDoNotHoldUpTheOthers() {
        let pool = BlockingPool(name: "test-pool", size: 3)
        pool.start()
        defer { pool.stop() }
        let gate = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        // Two jobs wait on the gate; the third thread still runs the rest.
        for _ in 0..<2 {
            #expect(pool.submit { gate.wait() })
        }
        let ran = TestLock(0)
        for _ in 0..<100 {
            #expect(
                pool.submit {
                    ran.withLock { $0 += 1 }
                    done.signal()
                })
        }
        for _ in 0..<100 {
            #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        }
        #expect(ran.withLock { $0 } == 100)
        gate.signal()
        gate.signal()
    }

    @Test func oneThreadRunsJobsInTheOrderGiven() {
        let pool = BlockingPool(name: "test-pool", size: 1)
        pool.start()
        defer { pool.stop() }
        let order = TestLock<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        for number in 0..<1000 {
            #expect(pool.submit { order.withLock { $0.append(number) } })
        }
        #expect(pool.submit { done.signal() })
        #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(order.withLock { $0 } == Array(0..<1000))
    }

    @Test func stoppingDropsTheJobsNotStartedAndRefusesMore() {
        let pool = BlockingPool(name: "test-pool", size: 1)
        pool.start()
        let gate = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let ran = TestLock(0)
        #expect(
            pool.submit {
                started.signal()
                gate.wait()
            })
        #expect(started.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(pool.submit { ran.withLock { $0 += 1 } })
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { gate.signal() }
        // Waits for the job that runs, not for the one queued behind it.
        pool.stop()
        #expect(ran.withLock { $0 } == 0)
        #expect(!pool.submit { ran.withLock { $0 += 1 } })
        pool.stop()
    }
}
