import Dispatch
import Glibc

/// Runs an action each time a signal arrives (SIGHUP: read the token file again), through a
/// dispatch source rather than a handler that could run anywhere.
///
/// Made before the server starts, so that the signal's default action (for SIGHUP, to end the
/// process) is off and the source is listening by the time the server says it is; the action
/// comes once there is a server to act on.
final class ReloadSignal {
    private let source: any DispatchSourceSignal

    /// Takes `signal`, disabling its default action; until `run` it is received and dropped.
    init(_ signal: Int32) {
        Glibc.signal(signal, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
        source.resume()
    }

    /// Runs `action` on each signal from now on.
    func run(_ action: @escaping @Sendable () -> Void) {
        source.setEventHandler(handler: action)
    }

    /// Stops running the action.
    func cancel() {
        source.cancel()
    }
}
