import CMicroHTTPD
import Glibc
import Plumbing

import struct Synchronization.Atomic

/// A request whose connection is suspended until someone answers it, from any thread.
///
/// Answering is two steps so that a hand-off can be atomic: `claim()` makes the caller the only
/// one allowed to finish the request (the deadline, shutdown and hang-up detection then leave
/// it alone), and `deliver(_:ifUndelivered:)` sends the answer, or `abandon()` closes the
/// connection without one. `respond(_:)` claims and delivers. Every parked request is finished
/// exactly once: by its claimer, at its deadline, when its client leaves, or when the server
/// stops.
package final class ParkedRequest: Sendable {
    private enum State {
        case waiting(deadline: DeadlineQueue.Ticket?)
        case claimed(deadline: DeadlineQueue.Ticket?)
        case answered(HTTPResponse)
        case abandoned
        case resumed
    }

    /// Unique within the server, unlike the object's address, which may be reused.
    let id: UInt64
    private let connection: ConnectionHandle
    private let lot: ParkingLot
    private let responseHeaders: [HTTPHeader]
    private let onFinish: (@Sendable (HTTPResponse?) -> Void)?
    private let state = Mutex<State>(.waiting(deadline: nil))
    private let undelivered = Mutex<(@Sendable () -> Void)?>(nil)

    init(id: UInt64, connection: ConnectionHandle, lot: ParkingLot, parking: ParkingPlan) {
        self.id = id
        self.connection = connection
        self.lot = lot
        responseHeaders = parking.responseHeaders
        onFinish = parking.onFinish
    }

    /// Whether nobody has claimed the request yet.
    package var isWaiting: Bool {
        state.withLock {
            if case .waiting = $0 { return true }
            return false
        }
    }

    /// Whether the client still has its end of the connection open, by a non-blocking peek at
    /// the socket: end of file or an error means it left. Only for a claimed request, whose
    /// connection is still suspended.
    ///
    /// Over TLS a client that leaves usually sends a close-notify alert before its end of file,
    /// so the peek finds a byte: there the socket is asked whether the client shut its side
    /// (TLS has no half-closed connection a client could still read from).
    package var isClientConnected: Bool {
        let socket = connection.socket
        guard socket >= 0 else { return false }
        if lot.speaksTLS {
            var watched = pollfd(fd: socket, events: cmhd_poll_read_hang_up, revents: 0)
            let ready = poll(&watched, 1, 0)
            if ready < 0 { return errno == EINTR }
            return watched.revents & (cmhd_poll_read_hang_up | Int16(POLLHUP | POLLERR | POLLNVAL)) == 0
        }
        var byte: UInt8 = 0
        let count = recv(socket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count > 0 { return true }
        if count == 0 { return false }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
    }

    /// Makes the caller the one who finishes the request; `false` when someone else already is.
    ///
    /// Only an atomic state change, cheap enough to call under another lock. After a
    /// successful claim the caller must call `deliver(_:ifUndelivered:)` or `abandon()` once,
    /// promptly.
    package func claim() -> Bool {
        state.withLock { state in
            guard case .waiting(let deadline) = state else { return false }
            state = .claimed(deadline: deadline)
            return true
        }
    }

    /// Sends the answer of a request the caller has claimed, and wakes its connection.
    ///
    /// - Parameter ifUndelivered: called once if the connection then ends with an error
    ///   instead of completing the answer, so that what it carried can be handed elsewhere.
    package func deliver(_ response: HTTPResponse, ifUndelivered: (@Sendable () -> Void)? = nil) {
        undelivered.withLock { $0 = ifUndelivered }
        finish(.answered(response))
    }

    /// Closes the connection of a claimed request without an answer: its client has left.
    package func abandon() {
        finish(.abandoned)
    }

    /// Claims and delivers in one step; `false` (and nothing sent) when already claimed.
    @discardableResult
    package func respond(_ response: HTTPResponse) -> Bool {
        guard claim() else { return false }
        deliver(response)
        return true
    }

    /// Keeps the deadline to cancel once answered; called once, right after it is scheduled.
    func arm(_ deadline: DeadlineQueue.Ticket) {
        let armed = state.withLock { state in
            guard case .waiting(nil) = state else { return false }
            state = .waiting(deadline: deadline)
            return true
        }
        if !armed {
            lot.deadlines.cancel(deadline)
        }
    }

    /// Takes the answer on the connection's thread once it is resumed; `nil` when abandoned.
    func takeAnswer() -> HTTPResponse? {
        state.withLock { state in
            defer { state = .resumed }
            switch state {
            case .answered(let response): return response
            case .abandoned: return nil
            default: preconditionFailure("a parked connection resumed without an answer")
            }
        }
    }

    /// The connection ended after being resumed; `successfully` is false when libmicrohttpd
    /// reports an error instead of a completed answer.
    func connectionEnded(successfully: Bool) {
        let action = undelivered.withLock { action in
            defer { action = nil }
            return action
        }
        if !successfully {
            action?()
        }
    }

    private func finish(_ outcome: State) {
        var outcome = outcome
        if case .answered(var response) = outcome {
            response.headers += responseHeaders
            outcome = .answered(response)
            onFinish?(response)
        } else {
            onFinish?(nil)
        }
        let deadline = state.withLock { state in
            guard case .claimed(let deadline) = state else {
                preconditionFailure("finishing a parked request without a successful claim()")
            }
            state = outcome
            return deadline
        }
        if let deadline {
            lot.deadlines.cancel(deadline)
        }
        lot.remove(self)
        connection.resume()
        // Counted as resumed from here: libmicrohttpd may notice the client left and close the
        // connection without calling the handler again, and MHD_stop_daemon resumes pending ones.
        lot.suspendedCount.subtract(1, ordering: .releasing)
    }
}
