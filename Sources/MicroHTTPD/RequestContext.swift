/// What the server keeps for a request that outlives one access-handler call: one with a body,
/// or one that is parked. A request without either never allocates one.
///
/// Only the connection's own thread touches it, so it needs no lock.
final class RequestContext {
    /// Where the request stands.
    enum Phase {
        /// Body bytes are arriving.
        case body
        /// The connection is suspended until the parked request is delivered.
        case parked(ParkedRequest)
        /// A response is queued.
        case answered
    }

    /// Where the request stands.
    var phase = Phase.body
    /// The body received so far.
    var body: [UInt8] = []
}

/// What libmicrohttpd stores for a request between calls (its `void **con_cls`).
enum RequestSlot {
    /// The first call: the headers are in.
    case new
    /// The headers were seen; no body and no parking so far, so nothing is allocated.
    case headersSeen
    /// The request has a body or is parked.
    case context(RequestContext)
}
