import Dispatch
import Glibc

/// Runs an action each time a signal arrives (SIGHUP: read the token file again), through a
/// dispatch source rather than a handler that could run anywhere.
final class ReloadSignal {
    private let source: any DispatchSourceSignal

    /// Starts running `action` on each `signal`; its default action is disabled.
    init(_ signal: Int32, action: @escaping @Sendable () -> Void) {
        Glibc.signal(signal, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
        source.setEventHandler(handler: action)
        source.resume()
    }

    /// Stops running the action.
    func cancel() {
        source.cancel()
    }
}
