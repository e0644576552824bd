/// A complete response: status, header fields and body bytes.
///
/// `Content-Length` is added by libmicrohttpd; a response to `HEAD` keeps it and loses the body.
package struct HTTPResponse: Sendable {
    /// The status code.
    package var status: HTTPStatus
    /// Header fields, in the order they are sent.
    package var headers: [HTTPHeader]
    /// The body bytes.
    package var body: [UInt8]

    /// Creates a response.
    package init(status: HTTPStatus, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
