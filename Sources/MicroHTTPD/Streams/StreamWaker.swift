import Plumbing

import struct Synchronization.Atomic

/// Wakes a suspended stream from any thread, exactly when it needs it.
///
/// "Nothing to send, suspend" on the connection's thread and "something to send, wake" on any
/// other thread are decided under one lock, so a wake-up is never lost between them and a
/// connection is resumed exactly once per suspension.
package final class StreamWaker: Sendable {
    private enum State {
        /// libmicrohttpd may ask for bytes.
        case running
        /// Woken while running: the next pause must not suspend.
        case woken
        /// Suspended until woken.
        case suspended
        /// The server stops: the stream must end.
        case closing
    }

    private let connection: ConnectionHandle
    private let lot: ParkingLot
    private let state = Mutex(State.running)

    init(connection: ConnectionHandle, lot: ParkingLot) {
        self.connection = connection
        self.lot = lot
    }

    /// Asks for the source to be read again soon; cheap, any thread, any number of times.
    /// Returns whether this resumed the connection, so that the source is read at once; `false`
    /// when it was running (the source is read again once what it gave is sent) or closing.
    @discardableResult
    package func wake() -> Bool {
        let mustResume = state.withLock { state in
            switch state {
            case .running:
                state = .woken
                return false
            case .suspended:
                state = .running
                return true
            case .woken, .closing:
                return false
            }
        }
        if mustResume {
            resume()
        }
        return mustResume
    }

    /// Whether the stream must end because the server stops.
    var isClosing: Bool {
        state.withLock {
            if case .closing = $0 { return true }
            return false
        }
    }

    /// Ends the stream as soon as it is read again, waking it if suspended.
    func close() {
        let mustResume = state.withLock { state in
            defer { state = .closing }
            if case .suspended = state { return true }
            return false
        }
        if mustResume {
            resume()
        }
    }

    /// On the connection's thread, when the source has nothing: suspends the connection
    /// unless a wake-up came in the meantime. Returns whether it suspended.
    func suspendUnlessWoken() -> Bool {
        state.withLock { state in
            switch state {
            case .woken:
                state = .running
                return false
            case .running:
                state = .suspended
                lot.suspendedCount.add(1, ordering: .relaxed)
                connection.suspend()
                return true
            case .suspended, .closing:
                return false
            }
        }
    }

    private func resume() {
        connection.resume()
        lot.suspendedCount.subtract(1, ordering: .releasing)
    }
}
