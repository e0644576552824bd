/// An error of the HTTP layer: the request cannot be served as sent.
///
/// The vocabulary of this layer: an open set of statuses with a human-readable detail. The
/// gateway turns each into one `application/problem+json` answer.
package struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// The status to answer with.
    package var status: HTTPStatus
    /// What went wrong, for a human reading the answer.
    package var detail: String
    /// Header fields the answer must carry, such as `Allow` on a 405.
    package var headers: [HTTPHeader]

    /// Creates an error.
    package init(status: HTTPStatus, detail: String, headers: [HTTPHeader] = []) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    /// The status and detail.
    package var description: String { "\(status): \(detail)" }

    /// 400: the request is malformed; `detail` says where.
    package static func badRequest(_ detail: String) -> HTTPError {
        HTTPError(status: .badRequest, detail: detail)
    }

    /// 404: nothing is served at this path.
    package static func notFound(_ detail: String) -> HTTPError {
        HTTPError(status: .notFound, detail: detail)
    }

    /// 405: the path exists but not with this method; the answer lists the allowed ones.
    package static func methodNotAllowed(_ method: HTTPMethod, allowed: [HTTPMethod]) -> HTTPError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPError(
            status: .methodNotAllowed,
            detail: "\(method) is not allowed here; allowed: \(list).",
            headers: [HTTPHeader("Allow", list)])
    }

    /// 413: the body is larger than the server accepts.
    package static func contentTooLarge(limit: Int) -> HTTPError {
        HTTPError(
            status: .contentTooLarge,
            detail: "The request body is larger than the limit of \(limit) bytes.")
    }

    /// 408: the request did not arrive whole within the read timeout.
    package static func requestTimeout(_ timeout: Duration) -> HTTPError {
        HTTPError(
            status: .requestTimeout,
            detail:
                "The request did not arrive whole within \(timeout.components.seconds) s; the connection is closed."
        )
    }

    /// 414: the request target is longer than the server reads.
    package static func uriTooLong(limit: Int) -> HTTPError {
        HTTPError(
            status: .uriTooLong, detail: "The request target is longer than the limit of \(limit) bytes.")
    }

    /// 431: the request line and header fields are larger than the server reads.
    package static func headerFieldsTooLarge(limit: Int) -> HTTPError {
        HTTPError(
            status: .requestHeaderFieldsTooLarge,
            detail: "The request line and header fields are larger than the limit of \(limit) bytes.")
    }

    /// 503: the server has as many connections open as it serves; this one is closed.
    package static let tooManyConnections = HTTPError(
        status: .serviceUnavailable,
        detail: "The server has as many connections open as it serves; try again later.",
        headers: [HTTPHeader("Retry-After", "1")])

    /// 503: the client's address has as many connections open as one address may; this one
    /// is closed.
    package static func tooManyConnectionsFromAddress(limit: Int) -> HTTPError {
        HTTPError(
            status: .serviceUnavailable,
            detail: "Your address has \(limit) connections open, as many as one address may; "
                + "reuse one, or try again later.",
            headers: [HTTPHeader("Retry-After", "1")])
    }

    /// 503: the server is shutting down and takes no new work.
    package static let shuttingDown = HTTPError(
        status: .serviceUnavailable, detail: "The server is shutting down.")
}
