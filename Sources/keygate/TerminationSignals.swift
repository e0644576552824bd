import Dispatch
import Glibc

/// Waits for a termination signal, delivered through dispatch sources rather than a handler.
final class TerminationSignals {
    private let received = DispatchSemaphore(value: 0)
    private var sources: [any DispatchSourceSignal] = []

    /// Starts listening for `signals`; their default action is disabled.
    init(_ signals: Int32...) {
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [received] in
                received.signal()
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Blocks until one of the signals arrives.
    func wait() {
        received.wait()
    }
}
