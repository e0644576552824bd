/// What one pass over a request's header fields finds, for the framing rules: whether every
/// name is a token, and how often the fields that frame a request were sent.
struct HeaderFieldSummary {
    /// Whether every field name is a token (RFC 9110, section 5.1). libmicrohttpd 0.9.75 keeps
    /// a space before the colon in the name, and joins a folded line (obs-fold) to it.
    var hasOnlyTokenNames = true
    /// How many `Host` fields were sent.
    var hostCount = 0
    /// How many `Content-Length` fields were sent.
    var contentLengthCount = 0
    /// How many `Transfer-Encoding` fields were sent.
    var transferEncodingCount = 0
}
