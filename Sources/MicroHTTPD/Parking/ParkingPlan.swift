/// How to park a request: its deadline and what to do when it is parked or times out.
package struct ParkingPlan: Sendable {
    /// How long the request may stay parked; libmicrohttpd never times out a parked request.
    package var timeout: Duration
    /// Called on the server's side once the request is suspended: hand the `ParkedRequest` to
    /// whatever will answer it. It may answer it at once, from any thread.
    package var onPark: @Sendable (ParkedRequest) -> Void
    /// Called once if the deadline passes before anyone answered; returns the answer to send.
    package var onTimeout: @Sendable () -> HTTPResponse
    /// Called once if the request stops waiting before anyone claimed it: its client closed
    /// the connection, or the server stopped (after its 503 is sent).
    package var onAbandon: (@Sendable () -> Void)?
    /// Header fields added to whatever answer the request gets in the end: delivered, timed
    /// out, or the server's 503 when it stops.
    package var responseHeaders: [HTTPHeader] = []
    /// Called once when the request is finished, with the answer about to be sent, or `nil`
    /// when its client left; on whichever thread finished it.
    package var onFinish: (@Sendable (HTTPResponse?) -> Void)?

    /// Creates a plan.
    package init(
        timeout: Duration,
        onPark: @escaping @Sendable (ParkedRequest) -> Void,
        onTimeout: @escaping @Sendable () -> HTTPResponse,
        onAbandon: (@Sendable () -> Void)? = nil
    ) {
        self.timeout = timeout
        self.onPark = onPark
        self.onTimeout = onTimeout
        self.onAbandon = onAbandon
    }
}
