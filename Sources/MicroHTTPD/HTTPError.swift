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

    /// 503: the server is shutting down and takes no new work.
    package static let shuttingDown = HTTPError(
        status: .serviceUnavailable, detail: "The server is shutting down.")
}
