/// How a socket served by an upgrade loop goes back to libmicrohttpd once it is finished.
enum SocketRelease: Sendable {
    /// An upgraded connection (a WebSocket): libmicrohttpd closes the socket.
    case upgrade(UpgradeResponseHandle)
    /// A streamed response whose body the loop wrote (see `StreamConnection`): its connection
    /// is resumed, and libmicrohttpd ends the response, or closes the connection when the
    /// stream did not complete.
    case stream(StreamConnection)
}
