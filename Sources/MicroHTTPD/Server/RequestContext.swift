/// What the server keeps for a request that outlives one access-handler call: one with a body,
/// or one that is parked. A request without either never allocates one.
///
/// Only the connection's own thread touches it, so it needs no lock.
final class RequestContext {
    /// Where the request stands.
    enum Phase {
        /// Body bytes are arriving.
        case body
        /// The connection is suspended until the parked request is finished.
        case parked(ParkedRequest)
        /// The parked request was finished and its connection resumed; its answer is queued.
        case resumed(ParkedRequest)
        /// A streamed response is being sent.
        case streaming(StreamConnection)
        /// A response is queued.
        case answered
        /// A `101` is queued; once it is sent, the socket goes to this handler.
        case upgrading(any UpgradeHandler)
        /// The socket was handed over; the request ends when the socket is closed.
        case upgraded
    }

    /// Where the request stands.
    var phase = Phase.body
    /// The body received so far.
    var body: [UInt8] = []
}
