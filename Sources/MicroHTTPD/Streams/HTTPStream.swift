/// A response whose body is produced over time and sent as it comes (chunked encoding), such as
/// a stream of server-sent events.
package struct HTTPStream: Sendable {
    /// The status code.
    package var status: HTTPStatus
    /// Header fields.
    package var headers: [HTTPHeader]
    /// What produces the body.
    package var source: any HTTPStreamSource

    /// Creates a stream.
    package init(status: HTTPStatus, headers: [HTTPHeader], source: any HTTPStreamSource) {
        self.status = status
        self.headers = headers
        self.source = source
    }
}
