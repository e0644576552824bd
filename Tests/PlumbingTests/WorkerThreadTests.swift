import Dispatch
import KeygateTestSupport
import Plumbing
import Testing

@Suite("Worker thread")
struct WorkerThreadTests {
    @Test func runsARoundForEachWakeUpAndStops() {
        let thread = WorkerThread(name: "test-worker")
        let rounds = TestLock(0)
        let ran = DispatchSemaphore(value: 0)
        thread.start {
            rounds.withLock { $0 += 1 }
            ran.signal()
            return .untilWoken
        }
        #expect(ran.wait(timeout: .now() + .seconds(10)) == .success)
        thread.wake()
        #expect(ran.wait(timeout: .now() + .seconds(10)) == .success)
        thread.stop()
        #expect(rounds.withLock { $0 } == 2)
    }

    @Test func wakeUpsBetweenTwoRoundsCostOneRound() {
        let thread = WorkerThread(name: "test-worker")
        let gate = DispatchSemaphore(value: 0)
        let ran = DispatchSemaphore(value: 0)
        let rounds = TestLock(0)
        thread.start {
            let round = rounds.withLock { count -> Int in
                count += 1
                return count
            }
            ran.signal()
            if round == 1 {
                // Held here while the test wakes the thread many times.
                gate.wait()
            }
            return .untilWoken
        }
        #expect(ran.wait(timeout: .now() + .seconds(10)) == .success)
        for _ in 0..<100 {
            thread.wake()
        }
        gate.signal()
        #expect(ran.wait(timeout: .now() + .seconds(10)) == .success)
        // No third round comes without another wake-up.
        #expect(ran.wait(timeout: .now() + .milliseconds(200)) == .timedOut)
        thread.stop()
        #expect(rounds.withLock { $0 } == 2)
    }

    @Test func sleepsNoLongerThanAskedWithoutAWakeUp() {
        let thread = WorkerThread(name: "test-worker")
        let ran = DispatchSemaphore(value: 0)
        thread.start {
            ran.signal()
            return .untilWokenOrAfter(.milliseconds(10))
        }
        for _ in 0..<3 {
            #expect(ran.wait(timeout: .now() + .seconds(10)) == .success)
        }
        thread.stop()
    }

    @Test func stopInterruptsARoundThatWaitsInAnEpollSet() throws {
        let epoll = try EpollSet()
        let thread = WorkerThread(name: "test-epoll", interrupt: { epoll.wake() })
        let waiting = DispatchSemaphore(value: 0)
        thread.start {
            waiting.signal()
            // Waits with no timeout: only the interrupt ends it.
            _ = try? epoll.wait(timeout: nil)
            return .none
        }
        #expect(waiting.wait(timeout: .now() + .seconds(10)) == .success)
        thread.stop()
        #expect(thread.isStopping)
    }

    @Test func aThreadNeverStartedStopsAtOnceAndNeverStarts() {
        let thread = WorkerThread(name: "test-worker")
        thread.stop()
        let ran = TestLock(false)
        thread.start {
            ran.withLock { $0 = true }
            return .untilWoken
        }
        #expect(!ran.withLock { $0 })
        #expect(thread.isStopping)
    }
}
