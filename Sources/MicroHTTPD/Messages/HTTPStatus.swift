/// An HTTP status code.
///
/// An open set like methods, so a struct with the codes Keygate uses as static members. Only
/// the code is stored: a status is copied on every response, and the phrase is rarely needed.
package struct HTTPStatus: Hashable, Sendable, CustomStringConvertible {
    /// The three-digit code.
    package let code: Int

    /// Creates a status from its code.
    package init(code: Int) {
        self.code = code
    }

    /// The reason phrase from the HTTP semantics RFC (RFC 9110), used as a problem title.
    package var reasonPhrase: String {
        switch code {
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 426: "Upgrade Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 499: "Client Closed Request"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 507: "Insufficient Storage"
        default: "Status \(code)"
        }
    }

    /// The code and phrase, as on a status line.
    package var description: String { "\(code) \(reasonPhrase)" }

    /// 101 Switching Protocols.
    package static let switchingProtocols = HTTPStatus(code: 101)
    /// 200 OK.
    package static let ok = HTTPStatus(code: 200)
    /// 201 Created.
    package static let created = HTTPStatus(code: 201)
    /// 204 No Content.
    package static let noContent = HTTPStatus(code: 204)
    /// 301 Moved Permanently.
    package static let movedPermanently = HTTPStatus(code: 301)
    /// 304 Not Modified.
    package static let notModified = HTTPStatus(code: 304)
    /// 400 Bad Request.
    package static let badRequest = HTTPStatus(code: 400)
    /// 401 Unauthorized.
    package static let unauthorized = HTTPStatus(code: 401)
    /// 403 Forbidden.
    package static let forbidden = HTTPStatus(code: 403)
    /// 404 Not Found.
    package static let notFound = HTTPStatus(code: 404)
    /// 405 Method Not Allowed.
    package static let methodNotAllowed = HTTPStatus(code: 405)
    /// 408 Request Timeout.
    package static let requestTimeout = HTTPStatus(code: 408)
    /// 409 Conflict.
    package static let conflict = HTTPStatus(code: 409)
    /// 410 Gone.
    package static let gone = HTTPStatus(code: 410)
    /// 412 Precondition Failed.
    package static let preconditionFailed = HTTPStatus(code: 412)
    /// 413 Content Too Large.
    package static let contentTooLarge = HTTPStatus(code: 413)
    /// 414 URI Too Long.
    package static let uriTooLong = HTTPStatus(code: 414)
    /// 415 Unsupported Media Type.
    package static let unsupportedMediaType = HTTPStatus(code: 415)
    /// 426 Upgrade Required.
    package static let upgradeRequired = HTTPStatus(code: 426)
    /// 429 Too Many Requests.
    package static let tooManyRequests = HTTPStatus(code: 429)
    /// 431 Request Header Fields Too Large.
    package static let requestHeaderFieldsTooLarge = HTTPStatus(code: 431)
    /// 499, nginx's "client closed request": never sent, but logged and counted for a
    /// parked request whose client left before its answer.
    package static let clientClosedRequest = HTTPStatus(code: 499)
    /// 500 Internal Server Error.
    package static let internalServerError = HTTPStatus(code: 500)
    /// 501 Not Implemented: the engine behind the server does not serve the operation.
    package static let notImplemented = HTTPStatus(code: 501)
    /// 503 Service Unavailable.
    package static let serviceUnavailable = HTTPStatus(code: 503)
    /// 507 Insufficient Storage (RFC 4918): the memory limit leaves no room for the change.
    package static let insufficientStorage = HTTPStatus(code: 507)
}
