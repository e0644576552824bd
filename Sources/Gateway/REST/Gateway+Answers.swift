import Logging
import MicroHTTPD

extension Gateway {
    /// How long past an operation's own deadline its parked request waits before the parking
    /// lot ends it: a backstop, since the operation answers at its deadline itself.
    static var parkingBackstop: Duration { .seconds(1) }

    /// The HTTP answer to an operation's completion: `render`ed now, or the request parked
    /// until its output comes (libmicrohttpd's thread goes on with other requests meanwhile).
    func answer<Output>(
        _ completion: Completion<Output>, render: @escaping @Sendable (Output) throws -> HTTPResponse
    ) throws -> HTTPAnswer {
        // `render` goes as the context, so that the closure here captures nothing.
        try answer(completion, with: render) { output, render in try render(output) }
    }

    /// `answer(_:render:)` for a `render` that needs what the request said, `context`: passed
    /// rather than captured, so that a render answered at once allocates nothing (a closure
    /// that captures nothing needs no context of its own).
    func answer<Output, Context: Sendable>(
        _ completion: Completion<Output>, with context: Context,
        render: @escaping @Sendable (Output, Context) throws -> HTTPResponse
    ) throws -> HTTPAnswer {
        switch completion {
        case .now(let output):
            return .respond(try render(output, context))
        case .later(let pending):
            return .park(parkingPlan(for: pending) { output in try render(output, context) })
        }
    }

    /// Parks a request until `pending` delivers; a client that leaves, or the server stopping,
    /// cancels it, so that what it holds goes back.
    private func parkingPlan<Output>(
        for pending: any PendingOutput<Output>,
        render: @escaping @Sendable (Output) throws -> HTTPResponse
    ) -> ParkingPlan {
        let logger = logger
        let backstop = pending.timeout + Self.parkingBackstop
        return ParkingPlan(
            timeout: backstop,
            onPark: { parked in
                pending.start { result, ifUndelivered in
                    guard parked.claim() else { return false }
                    // Checked before a hand-off, so that nothing goes to a client known to be gone.
                    guard parked.isClientConnected else {
                        parked.abandon()
                        return false
                    }
                    parked.deliver(
                        Self.response(to: result, render: render, logger: logger),
                        ifUndelivered: ifUndelivered)
                    return true
                }
            },
            onTimeout: {
                pending.cancel()
                return Problem(GatewayError.notCompleted(within: backstop)).response
            },
            onAbandon: {
                pending.cancel()
            })
    }

    /// The response to a later output, or the problem of its failure.
    private static func response<Output>(
        to result: Result<Output, any Error>, render: (Output) throws -> HTTPResponse, logger: Logger
    ) -> HTTPResponse {
        do {
            return try render(result.get())
        } catch {
            return Problem(error, logger: logger).response
        }
    }
}
