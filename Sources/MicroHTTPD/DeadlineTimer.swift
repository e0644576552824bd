package import Dispatch

/// A one-shot timer, such as the one that answers a parked request at its deadline.
///
/// `@unchecked Sendable` because it only wraps a libdispatch source, an object libdispatch
/// makes safe to cancel from any thread; nothing else is done with it after it is armed.
package struct DeadlineTimer: @unchecked Sendable {
    private let source: any DispatchSourceTimer

    /// A timer on `queue` that calls `handler` once, `timeout` from now (1 ms leeway).
    package init(timeout: Duration, queue: DispatchQueue, handler: @escaping @Sendable () -> Void) {
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(clamping: seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        source = DispatchSource.makeTimerSource(queue: queue)
        source.schedule(deadline: .now() + .nanoseconds(nanoseconds), leeway: .milliseconds(1))
        source.setEventHandler(handler: handler)
    }

    /// Starts counting down; once.
    package func activate() {
        source.activate()
    }

    /// Stops the timer; its handler will not run if it has not started.
    package func cancel() {
        source.cancel()
    }
}
