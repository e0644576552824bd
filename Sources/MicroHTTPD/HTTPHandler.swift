/// What a server asks of the application: an answer to each request.
///
/// `answer(_:)` runs on one of libmicrohttpd's threads, for every request, so it must be fast
/// and must never block: answer at once, or park the request and answer it later.
package protocol HTTPHandler: Sendable {
    /// Answers one request, or parks it.
    func answer(_ request: HTTPRequest) -> HTTPAnswer

    /// Renders an error the server detected itself, before or instead of calling `answer(_:)`:
    /// a body over the limit, or a request arriving while the server shuts down.
    func response(for error: HTTPError) -> HTTPResponse
}

/// The outcome of handling a request.
package enum HTTPAnswer: Sendable {
    /// Send this response now.
    case respond(HTTPResponse)
    /// Suspend the connection until someone answers the parked request or its deadline passes.
    case park(Parking)
}

/// How to park a request: its deadline and what to do when it is parked or times out.
package struct Parking: Sendable {
    /// How long the request may stay parked; libmicrohttpd never times out a parked request.
    package var timeout: Duration
    /// Called on the server's side once the request is suspended: hand the `ParkedRequest` to
    /// whatever will answer it. It may answer it at once, from any thread.
    package var onPark: @Sendable (ParkedRequest) -> Void
    /// Called once if the deadline passes before anyone answered; returns the answer to send.
    package var onTimeout: @Sendable () -> HTTPResponse

    /// Creates a parking plan.
    package init(
        timeout: Duration,
        onPark: @escaping @Sendable (ParkedRequest) -> Void,
        onTimeout: @escaping @Sendable () -> HTTPResponse
    ) {
        self.timeout = timeout
        self.onPark = onPark
        self.onTimeout = onTimeout
    }
}
