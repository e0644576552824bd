import MicroHTTPD

extension HTTPRequest {
    /// Refuses a request whose framing headers contradict each other (RFC 9112, sections 3.2
    /// and 6.3), with a 400 that closes the connection.
    ///
    /// libmicrohttpd 0.9.75 reads such a request by one of the headers and keeps the
    /// connection open, so bytes that another reader of the same stream (a proxy in front)
    /// takes for this request's body would be read here as a request of their own: the
    /// request smuggling those sections forbid. Closing after the answer leaves nothing to
    /// smuggle. O(h) in the number of header fields; the usual request, without
    /// `Transfer-Encoding`, costs one lookup per header checked.
    func checkFraming() throws(HTTPError) {
        if header("Transfer-Encoding") != nil {
            guard header("Content-Length") == nil else {
                throw Self.framingError(
                    "Transfer-Encoding and Content-Length together are refused (RFC 9112, section 6.3).")
            }
            let codings = headerValues("Transfer-Encoding")
            guard codings.count == 1, codings[0].lowercased() == "chunked" else {
                throw Self.framingError("The only transfer coding accepted is a single 'chunked'.")
            }
        } else if header("Content-Length") != nil, headerValues("Content-Length").count > 1 {
            throw Self.framingError("Content-Length is given more than once.")
        }
        guard headerValues("Host").count <= 1 else {
            throw Self.framingError("Host is given more than once (RFC 9112, section 3.2).")
        }
    }

    private static func framingError(_ detail: String) -> HTTPError {
        HTTPError(status: .badRequest, detail: detail, headers: [HTTPHeader("Connection", "close")])
    }
}
