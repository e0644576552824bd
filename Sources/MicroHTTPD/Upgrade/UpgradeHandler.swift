/// The application's side of a connection taken over from HTTP (a WebSocket): what it does
/// with the bytes a client sends, and when.
///
/// Every method runs on the thread of the upgrade loop that serves the socket, one call at a
/// time, so a handler's own state needs no lock for these calls; handlers of sockets on other
/// loops run at the same time. Each must return quickly (no blocking, no waiting), since every
/// socket of its loop waits for it.
package protocol UpgradeHandler: AnyObject, Sendable {
    /// The `101` went out and `socket` is the handler's; the first call.
    func opened(_ socket: UpgradedSocket)

    /// Bytes arrived from the client.
    func received(_ bytes: Span<UInt8>)

    /// The handler asked for this with `UpgradedSocket.requestService()`, from another thread.
    func serve()

    /// About once a second, for time-based work such as keep-alive pings.
    func tick(now: ContinuousClock.Instant)

    /// The server stops: say goodbye and close the socket. It is closed anyway once the
    /// shutdown grace period has passed.
    func serverStopping()

    /// The socket is closed, by either side; the last call. Release what the connection held.
    func closed()
}
