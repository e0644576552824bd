import Dispatch
import Glibc

/// Calls an action on each SIGHUP, delivered through a dispatch source rather than a handler.
/// The signal's default action, ending the process, is disabled from creation on, so a SIGHUP
/// that comes before `start` is ignored.
final class ReloadSignal {
    private let source: any DispatchSourceSignal

    /// Ignores SIGHUP until `start`.
    init() {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(
            signal: SIGHUP, queue: DispatchQueue(label: "keygate-reload"))
    }

    /// Calls `action` on each SIGHUP from now on, one call at a time, on a queue of its own.
    func start(_ action: @escaping @Sendable () -> Void) {
        source.setEventHandler(handler: action)
        source.resume()
    }

    /// Stops calling the action; SIGHUP stays ignored.
    func stop() {
        source.cancel()
    }
}
