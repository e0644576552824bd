/// What performing an operation gives: its output at once, or later.
enum Completion<Output: Sendable>: Sendable {
    /// The output, to answer now.
    case now(Output)
    /// An output that comes later: once a change is durable, or once a message comes.
    case later(any PendingOutput<Output>)
}

/// Where a later output goes: the transport's answer to its client. Returns whether the
/// transport took it; when it did not (its client is gone), what the output holds is still the
/// caller's. `ifUndelivered` is called once if the transport took it but then failed to send it.
typealias Delivery<Output> =
    @Sendable (_ result: Result<Output, any Error>, _ ifUndelivered: (@Sendable () -> Void)?) -> Bool

/// An operation's output that comes later, delivered exactly once: the output, a failure, or
/// what its own deadline answers; or nothing, once cancelled.
protocol PendingOutput<Output>: AnyObject, Sendable {
    /// What it delivers.
    associatedtype Output: Sendable

    /// The longest it may take: at that point it delivers its deadline's answer itself.
    var timeout: Duration { get }

    /// Starts waiting; `delivery` gets the output. Once, from the transport, when it is ready
    /// to deliver (a REST request once parked).
    func start(_ delivery: @escaping Delivery<Output>)

    /// The client left or the server stops: nothing is delivered, and what the output holds
    /// goes back. From any thread, any number of times.
    func cancel()
}
