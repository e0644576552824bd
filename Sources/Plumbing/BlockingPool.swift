import Dispatch
import Foundation

import struct Synchronization.Atomic

/// Threads for work that waits, such as a call to a remote store, so that the threads serving
/// connections never do: `submit` hands a job to the first idle thread, jobs starting in the
/// order given.
package final class BlockingPool: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        /// The index of the next job to run; what is before it has been taken.
        var head = 0
        var isStopping = false
    }

    /// The number of threads.
    package let size: Int
    private let name: String
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let isStarted = Atomic<Bool>(false)

    /// A pool of `size` threads named `name-N`, not started.
    package init(name: String, size: Int) {
        precondition(size > 0, "a pool needs a thread")
        self.name = name
        self.size = size
    }

    /// Starts the threads; idempotent. They keep the pool alive until `stop()`.
    package func start() {
        guard !isStarted.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for number in 0..<size {
            let thread = Thread { [self] in
                while let job = next() {
                    job()
                }
                finished.signal()
            }
            thread.name = "\(name)-\(number)"
            thread.start()
        }
    }

    /// Runs `job` on the first idle thread; `false`, and it never runs, once the pool stops.
    package func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let isTaken = state.withLock { state in
            guard !state.isStopping else { return false }
            state.jobs.append(job)
            return true
        }
        if isTaken {
            available.signal()
        }
        return isTaken
    }

    /// Drops the jobs not started, and waits for the threads to finish the ones they run;
    /// idempotent.
    package func stop() {
        let wasStopping = state.withLock { state in
            defer {
                state.isStopping = true
                state.jobs = []
                state.head = 0
            }
            return state.isStopping
        }
        guard !wasStopping, isStarted.load(ordering: .acquiring) else { return }
        for _ in 0..<size {
            available.signal()
        }
        for _ in 0..<size {
            finished.wait()
        }
    }

    /// The next job, once one is submitted; `nil` once the pool stops.
    private func next() -> (@Sendable () -> Void)? {
        available.wait()
        return state.withLock { state in
            guard !state.isStopping, state.head < state.jobs.count else { return nil }
            let job = state.jobs[state.head]
            state.head += 1
            // The jobs taken are dropped once they are most of the array: O(1) amortized.
            if state.head * 2 >= state.jobs.count {
                state.jobs.removeFirst(state.head)
                state.head = 0
            }
            return job
        }
    }
}
