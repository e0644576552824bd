import Synchronization

/// A request whose connection is suspended until someone answers it, from any thread.
///
/// Answering is two steps so that a hand-off can be atomic: `claim()` makes the caller the only
/// one allowed to answer (the deadline and shutdown then leave it alone), and `deliver(_:)` sends
/// the answer. `respond(_:)` does both. Every parked request is delivered exactly once: by its
/// claimer, or at its deadline, or when the server stops.
package final class ParkedRequest: Sendable {
    private enum State {
        case waiting(deadline: DeadlineTimer?)
        case claimed
        case answered(HTTPResponse)
        case delivered
    }

    private let connection: ConnectionHandle
    private let lot: ParkingLot
    private let state = Mutex<State>(.waiting(deadline: nil))

    init(connection: ConnectionHandle, lot: ParkingLot) {
        self.connection = connection
        self.lot = lot
    }

    /// Whether nobody has claimed the request yet.
    package var isWaiting: Bool {
        state.withLock {
            if case .waiting = $0 { return true }
            return false
        }
    }

    /// Makes the caller the one who answers; `false` when someone else already is.
    ///
    /// After a successful claim the caller must call `deliver(_:)` exactly once, promptly.
    package func claim() -> Bool {
        let deadline: DeadlineTimer?? = state.withLock { state in
            guard case .waiting(let deadline) = state else { return nil }
            state = .claimed
            return .some(deadline)
        }
        guard let deadline else { return false }
        deadline?.cancel()
        lot.remove(self)
        return true
    }

    /// Sends the answer of a request the caller has claimed, and wakes its connection.
    package func deliver(_ response: HTTPResponse) {
        state.withLock { state in
            guard case .claimed = state else {
                preconditionFailure("deliver(_:) without a successful claim()")
            }
            state = .answered(response)
        }
        connection.resume()
    }

    /// Claims and delivers in one step; `false` (and nothing sent) when already claimed.
    @discardableResult
    package func respond(_ response: HTTPResponse) -> Bool {
        guard claim() else { return false }
        deliver(response)
        return true
    }

    /// Arms the deadline timer; called once, right after the connection is suspended.
    func arm(_ deadline: DeadlineTimer) {
        // Activated first: libdispatch must not release a source that was never activated.
        deadline.activate()
        let armed = state.withLock { state in
            guard case .waiting(nil) = state else { return false }
            state = .waiting(deadline: deadline)
            return true
        }
        if !armed {
            deadline.cancel()
        }
    }

    /// Takes the delivered answer; called on the connection's thread once it is resumed.
    func takeAnswer() -> HTTPResponse {
        state.withLock { state in
            guard case .answered(let response) = state else {
                preconditionFailure("a parked connection resumed without an answer")
            }
            state = .delivered
            return response
        }
    }
}
