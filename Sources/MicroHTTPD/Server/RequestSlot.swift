/// What libmicrohttpd stores for a request between calls (its `void **con_cls`).
enum RequestSlot {
    /// The first call: the headers are in.
    case new
    /// The headers were seen; no body and no parking so far, so nothing is allocated.
    case headersSeen
    /// The request has a body or is parked.
    case context(RequestContext)
}
