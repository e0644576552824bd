/// What a request's head must respect before its body is read: the target's and the head's
/// size, consistent framing, and the declared body's size. Each broken rule is the error to
/// answer, after which the connection is closed.
struct RequestHeadRules: Sendable {
    /// The limits it enforces (the target's, the head's and the body's): the server's
    /// configuration.
    let limits: HTTPServer.Configuration

    /// The first rule the head of `connection`'s request breaks, if any; `path` gives the
    /// request's path, read only for a head long enough to hold a long target. O(header fields).
    func refusal(of connection: ConnectionHandle, path: () -> [UInt8]) -> HTTPError? {
        let headerBytes = connection.headerSize
        // The head includes the request line, so only a long head can hold a long target.
        if headerBytes > limits.maxURLBytes && targetLength(of: connection, path: path()) > limits.maxURLBytes
        {
            return .uriTooLong(limit: limits.maxURLBytes)
        }
        if headerBytes > limits.maxHeaderBytes {
            return .headerFieldsTooLarge(limit: limits.maxHeaderBytes)
        }
        let fields = connection.headerFieldSummary()
        if let framing = framingError(of: connection, fields: fields) {
            return framing
        }
        // Looked up only when sent: most requests have no body.
        if fields.contentLengthCount > 0,
            let declared = connection.header(named: "Content-Length").flatMap(Int.init),
            declared > limits.maxBodyBytes
        {
            return .contentTooLarge(limit: limits.maxBodyBytes)
        }
        return nil
    }

    /// Why the request's framing cannot be trusted, if it cannot, from `fields`: a header field
    /// name that is not a token, or framing fields that contradict each other (RFC 9112,
    /// sections 3.2 and 6.3): `Transfer-Encoding` with `Content-Length`, a coding other than one `chunked`, or
    /// `Content-Length` or `Host` given twice.
    ///
    /// libmicrohttpd 0.9.75 reads such a request by one of the fields and keeps the connection
    /// open, so bytes that another reader of the same stream (a proxy in front) takes for this
    /// request's body would be read here as a request of their own: the smuggling those
    /// sections forbid. Refused before the body is read, and the connection closed, nothing is
    /// left to smuggle.
    private func framingError(of connection: ConnectionHandle, fields: HeaderFieldSummary) -> HTTPError? {
        guard fields.hasOnlyTokenNames else {
            return .badRequest(
                "A header field name is not a token: a space before its colon, or a folded line (RFC 9112, section 5)."
            )
        }
        if fields.transferEncodingCount > 0 {
            guard fields.contentLengthCount == 0 else {
                return .badRequest(
                    "Transfer-Encoding and Content-Length together are refused (RFC 9112, section 6.3).")
            }
            let codings = connection.headerValues(named: "Transfer-Encoding")
            guard codings.count == 1, codings[0].lowercased() == "chunked" else {
                return .badRequest("The only transfer coding accepted is a single 'chunked'.")
            }
        } else if fields.contentLengthCount > 1 {
            return .badRequest("Content-Length is given more than once.")
        }
        guard fields.hostCount <= 1 else {
            return .badRequest("Host is given more than once (RFC 9112, section 3.2).")
        }
        return nil
    }

    /// The length of the request target: the path and, as libmicrohttpd splits it off, the
    /// query (`?`, its pairs as sent, and the `=` and `&` between them). O(query pairs).
    private func targetLength(of connection: ConnectionHandle, path: [UInt8]) -> Int {
        let pairs = connection.rawQueryPairs()
        return pairs.reduce(path.count + pairs.count) { $0 + $1.name.count + 1 + $1.value.count }
    }
}
