import Plumbing

import struct Synchronization.Atomic

/// Wakes a paused stream from any thread, exactly when it needs it.
///
/// "Nothing to send, suspend" on the connection's thread and "something to send, wake" on any
/// other thread are decided under one lock, so a wake-up is never lost between them and a
/// connection is resumed exactly once per suspension. A stream that an upgrade loop writes
/// (see `StreamConnection`) stays suspended in libmicrohttpd: a wake-up asks its pump for
/// service instead, and the connection is resumed once, when the loop gives it back.
package final class StreamWaker: Sendable {
    private enum State {
        /// libmicrohttpd may ask for bytes.
        case running
        /// Woken while running: the next pause must not suspend.
        case woken
        /// Suspended until woken.
        case suspended
        /// Suspended while a loop writes the stream through `pump`.
        case adopted(StreamPump)
        /// The loop gave the stream back: it ends, completely or not.
        case handedBack(isComplete: Bool)
        /// The server stops: the stream must end.
        case closing
    }

    /// What a pause did.
    enum Pause {
        /// Woken meanwhile: read the source again.
        case woken
        /// The connection is suspended until woken.
        case suspended
        /// The connection is suspended and a loop writes the stream from now on.
        case adopted
        /// The stream ends; read nothing more.
        case ending
    }

    private let connection: ConnectionHandle
    private let lot: ParkingLot
    private let state = Mutex(State.running)

    init(connection: ConnectionHandle, lot: ParkingLot) {
        self.connection = connection
        self.lot = lot
    }

    /// Asks for the source to be read again soon; cheap, any thread, any number of times.
    /// Returns whether the source will be read soon, from where it stands now: `false` when it
    /// is running (libmicrohttpd reads it again once what it gave is sent) or the stream ends.
    @discardableResult
    package func wake() -> Bool {
        enum Action {
            case none, resume
            case serve(StreamPump)
        }
        let action = state.withLock { state -> Action in
            switch state {
            case .running:
                state = .woken
                return .none
            case .suspended:
                state = .running
                return .resume
            case .adopted(let pump):
                return .serve(pump)
            case .woken, .handedBack, .closing:
                return .none
            }
        }
        switch action {
        case .none:
            return false
        case .resume:
            resume()
            return true
        case .serve(let pump):
            return pump.wake()
        }
    }

    /// How the stream ends, once it does: `true` complete, `false` cut short; `nil` while it
    /// goes on.
    var ending: Bool? {
        state.withLock { state in
            switch state {
            case .closing: true
            case .handedBack(let isComplete): isComplete
            default: nil
            }
        }
    }

    /// Ends the stream as soon as it is read again, waking it if suspended; a stream a loop
    /// writes is closed there first, and comes back once sent.
    func close() {
        let (mustResume, pump) = state.withLock { state -> (Bool, StreamPump?) in
            switch state {
            case .suspended:
                state = .closing
                return (true, nil)
            case .adopted(let pump):
                return (false, pump)
            case .handedBack:
                return (false, nil)
            case .running, .woken, .closing:
                state = .closing
                return (false, nil)
            }
        }
        if mustResume {
            resume()
        }
        pump?.close()
    }

    /// On the connection's thread, when the source has nothing: unless a wake-up came in the
    /// meantime, suspends the connection, and with `pump`, hands the stream to it (the caller
    /// then gives it to a loop).
    func pause(handingTo pump: StreamPump?) -> Pause {
        state.withLock { state in
            switch state {
            case .woken:
                state = .running
                return .woken
            case .running:
                state = pump.map { .adopted($0) } ?? .suspended
                lot.suspendedCount.add(1, ordering: .relaxed)
                connection.suspend()
                return pump == nil ? .suspended : .adopted
            case .suspended, .adopted, .handedBack, .closing:
                return .ending
            }
        }
    }

    /// The loop is done with the stream: the connection is resumed, and the stream ends,
    /// `isComplete` or cut short. Any thread; once.
    func handBack(isComplete: Bool) {
        let mustResume = state.withLock { state in
            guard case .adopted = state else { return false }
            state = .handedBack(isComplete: isComplete)
            return true
        }
        if mustResume {
            resume()
        }
    }

    private func resume() {
        connection.resume()
        lot.suspendedCount.subtract(1, ordering: .releasing)
    }
}
