import Dispatch
import Glibc

/// Calls an action on each SIGHUP, delivered through a dispatch source rather than a handler.
///
/// Made before the server starts: the signal's default action, ending the process, is disabled
/// from creation on, and the source is listening by the time the server says it is. A SIGHUP
/// that comes before `start` is received and dropped.
final class ReloadSignal {
    private let source: any DispatchSourceSignal

    /// Takes SIGHUP, ignoring it until `start`.
    init() {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(
            signal: SIGHUP, queue: DispatchQueue(label: "keygate-reload"))
        source.resume()
    }

    /// Calls `action` on each SIGHUP from now on, one call at a time, on a queue of its own.
    func start(_ action: @escaping @Sendable () -> Void) {
        source.setEventHandler(handler: action)
    }

    /// Stops calling the action; SIGHUP stays ignored.
    func stop() {
        source.cancel()
    }
}
