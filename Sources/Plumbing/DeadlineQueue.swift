/// Actions to run at deadlines, on one thread of their own: the deadlines of parked requests
/// and of waiting operations, whatever transport they came by.
///
/// Scheduling and cancelling are O(log n) under a short lock; a cancelled deadline leaves at
/// once. The thread sleeps until the earliest deadline, and runs the actions due outside the
/// lock, in deadline order; each must be quick (claim something and answer it), since the
/// deadlines after it wait for it.
package final class DeadlineQueue: Sendable {
    /// A scheduled action, for cancelling it.
    package struct Ticket: Sendable, Hashable {
        fileprivate let handle: DeadlineHeap<ContinuousClock.Instant, Entry>.Handle
        fileprivate let id: UInt64
    }

    fileprivate struct Entry: Sendable {
        let id: UInt64
        let action: @Sendable () -> Void
    }

    private struct State {
        var heap = DeadlineHeap<ContinuousClock.Instant, Entry>()
        var lastID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let thread: WorkerThread

    /// A queue whose thread is named `name`; call `start()` before deadlines are due.
    package init(name: String) {
        thread = WorkerThread(name: name)
    }

    /// Starts the thread; idempotent.
    package func start() {
        thread.start { [self] in runDue() }
    }

    /// Stops the thread; actions not yet due never run. Idempotent.
    package func stop() {
        thread.stop()
    }

    /// The number of actions scheduled.
    package var count: Int {
        state.withLock { $0.heap.count }
    }

    /// Runs `action` once, `timeout` from now, unless cancelled first. O(log n).
    package func schedule(after timeout: Duration, _ action: @escaping @Sendable () -> Void) -> Ticket {
        let deadline = ContinuousClock.now + timeout
        let (ticket, isEarliest) = state.withLock { state in
            state.lastID += 1
            let handle = state.heap.insert(Entry(id: state.lastID, action: action), deadline: deadline)
            return (Ticket(handle: handle, id: state.lastID), state.heap.first?.handle == handle)
        }
        if isEarliest {
            thread.wake()
        }
        return ticket
    }

    /// Cancels a scheduled action; `true` if it had not run yet and now never will. O(log n).
    @discardableResult
    package func cancel(_ ticket: Ticket) -> Bool {
        state.withLock { state in
            // A handle is reused once its action ran: the id tells whether it is still ours.
            guard state.heap.element(of: ticket.handle)?.id == ticket.id else { return false }
            state.heap.remove(ticket.handle)
            return true
        }
    }

    /// Runs the actions due, earliest first; then sleeps until the next deadline.
    private func runDue() -> WorkerThread.Pause {
        let now = ContinuousClock.now
        var due: [@Sendable () -> Void] = []
        let next = state.withLock { state -> ContinuousClock.Instant? in
            while let first = state.heap.first, first.deadline <= now {
                state.heap.remove(first.handle)
                due.append(first.element.action)
            }
            return state.heap.first?.deadline
        }
        for action in due {
            action()
        }
        guard let next else { return .untilWoken }
        return .untilWokenOrAfter(next - .now)
    }
}
