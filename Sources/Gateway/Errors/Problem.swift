import Keyspace
import Logging
import MicroHTTPD
import WebSocket

/// An error answer in the `application/problem+json` format (RFC 9457).
///
/// The one place where errors of every layer become HTTP: each `KeyspaceError`,
/// `GatewayError` and `HTTPError` maps to a status, a problem type and a detail here, and
/// nowhere else.
struct Problem: Encodable {
    /// The media type of a problem body.
    static let mediaType = "application/problem+json"

    /// A URI reference naming the kind of problem, `/problems/<slug>`.
    let type: String
    /// The status's reason phrase.
    let title: String
    /// The HTTP status code.
    let status: Int
    /// What went wrong in this request, for a human.
    let detail: String
    /// Header fields the answer carries besides `Content-Type`, such as `Allow`.
    private let headers: [HTTPHeader]

    private enum CodingKeys: String, CodingKey {
        case type, title, status, detail
    }

    private init(
        slug: String, status: HTTPStatus, detail: String, headers: [HTTPHeader] = []
    ) {
        self.type = "/problems/\(slug)"
        self.title = status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.headers = headers
    }

    /// The problem for an HTTP-level error.
    init(_ error: HTTPError) {
        let slug =
            switch error.status {
            case .badRequest: "bad-request"
            case .forbidden: "forbidden"
            case .notFound: "not-found"
            case .methodNotAllowed: "method-not-allowed"
            case .requestTimeout: "request-timeout"
            case .conflict: "conflict"
            case .preconditionFailed: "precondition-failed"
            case .contentTooLarge: "content-too-large"
            case .uriTooLong: "uri-too-long"
            case .unsupportedMediaType: "unsupported-media-type"
            case .upgradeRequired: "upgrade-required"
            case .tooManyRequests: "too-many-requests"
            case .requestHeaderFieldsTooLarge: "header-fields-too-large"
            case .serviceUnavailable: "service-unavailable"
            default: "http-\(error.status.code)"
            }
        self.init(slug: slug, status: error.status, detail: error.detail, headers: error.headers)
    }

    /// The problem for a refusal of the gateway.
    init(_ error: GatewayError) {
        switch error {
        case .badRequest(let detail):
            self.init(slug: "bad-request", status: .badRequest, detail: detail)
        case .notFound(let detail):
            self.init(slug: "not-found", status: .notFound, detail: detail)
        case .methodNotAllowed(let method, let allowed):
            self.init(
                slug: "method-not-allowed", status: .methodNotAllowed,
                detail: "\(method) is not allowed here; allowed: \(allowed.allowHeader).",
                headers: [HTTPHeader("Allow", allowed.allowHeader)])
        case .originNotAllowed:
            self.init(
                slug: "forbidden", status: .forbidden,
                detail: "WebSockets from pages of this origin are not allowed here (see --cors-origin).")
        case .handshakeRefused(.notAnUpgrade(let detail)):
            self.init(
                slug: "upgrade-required", status: .upgradeRequired,
                detail: "\(detail) /v1/ws speaks WebSocket only.",
                headers: [HTTPHeader("Upgrade", "websocket")])
        case .handshakeRefused(.unsupportedVersion):
            self.init(
                slug: "upgrade-required", status: .upgradeRequired,
                detail: "Keygate speaks WebSocket version 13 (RFC 6455).",
                headers: [HTTPHeader("Sec-WebSocket-Version", Handshake.version)])
        case .handshakeRefused(.invalidKey):
            self.init(
                slug: "bad-request", status: .badRequest,
                detail: "Sec-WebSocket-Key must be the base64 of 16 random bytes.")
        case .tooManyOnSocket(let detail):
            self.init(slug: "too-many-requests", status: .tooManyRequests, detail: detail)
        case .notReady:
            self.init(
                slug: "service-unavailable", status: .serviceUnavailable,
                detail: "Keygate is starting or stopping.")
        case .unauthorized(let isTokenSent, let detail):
            // RFC 6750, section 3: the scheme and realm, and why a token that was sent failed.
            let challenge = #"Bearer realm="keygate""# + (isTokenSent ? #", error="invalid_token""# : "")
            self.init(
                slug: "unauthorized", status: .unauthorized, detail: detail,
                headers: [HTTPHeader("WWW-Authenticate", challenge)])
        case .forbidden(.admin, _):
            self.init(
                slug: "forbidden", status: .forbidden,
                detail: "This token is not granted admin, which /metrics needs.")
        case .forbidden(let action, let key):
            let target = key.map { "'\($0)'" } ?? "any key"
            self.init(
                slug: "forbidden", status: .forbidden,
                detail: "This token may not \(action.rawValue) \(target); nothing was changed.")
        case .notCompleted(let timeout):
            self.init(
                slug: "service-unavailable", status: .serviceUnavailable,
                detail: "The operation did not complete within \(Seconds.text(timeout)) s; try again.",
                headers: [HTTPHeader("Retry-After", "1")])
        }
    }

    /// The problem for a keyspace refusal.
    init(_ error: KeyspaceError) {
        switch error {
        case .invalidKey(let reason):
            self.init(slug: "invalid-key", status: .badRequest, detail: reason)
        case .wrongType(let key, let actual):
            self.init(
                slug: "wrong-type", status: .conflict,
                detail: "The key '\(key)' holds a \(actual.rawValue); this operation needs another type.")
        case .conditionFailed(let key):
            self.init(
                slug: "precondition-failed", status: .preconditionFailed,
                detail: "The condition on '\(key)' does not hold; nothing was changed.")
        case .invalidTimeToLive(let reason):
            self.init(slug: "invalid-ttl", status: .badRequest, detail: reason)
        case .invalidPattern(let reason):
            self.init(slug: "invalid-pattern", status: .badRequest, detail: reason)
        case .invalidCursor:
            self.init(
                slug: "invalid-cursor", status: .badRequest,
                detail: "The cursor is not one a listing returned.")
        case .tooManyWaiting(let queue, let limit):
            self.init(
                slug: "too-many-waiting", status: .serviceUnavailable,
                detail: "The queue '\(queue)' has \(limit) consumers waiting, as many as one queue may; "
                    + "try again later.",
                headers: [HTTPHeader("Retry-After", "1")])
        case .memoryFull(let used, let limit, let needed):
            self.init(
                slug: "memory-full", status: .insufficientStorage,
                detail:
                    "The memory limit is \(limit) bytes and \(used) are in use; this change needs \(needed) "
                    + "more, which the eviction policy cannot free. Nothing was changed.")
        case .invalidArgument(let reason):
            self.init(slug: "bad-request", status: .badRequest, detail: reason)
        case .invalidReceipt(let reason):
            self.init(slug: "invalid-receipt", status: .badRequest, detail: reason)
        case .unknownReceipt(let queue):
            self.init(
                slug: "not-found", status: .notFound,
                detail: "No lease of the queue '\(queue)' has this receipt; nothing was changed.")
        case .leaseExpired(let queue):
            self.init(
                slug: "lease-expired", status: .gone,
                detail: "The lease of this receipt on the queue '\(queue)' has ended: the message may be "
                    + "with another consumer now. Nothing was changed.")
        case .unavailable(let failure):
            self.init(
                slug: "persistence-unavailable", status: .serviceUnavailable,
                detail: "Changes cannot be made durable, so they are refused: \(failure). "
                    + "A change answered this way may already be in memory.",
                headers: [HTTPHeader("Retry-After", "1")])
        case .unreachable(let reason):
            self.init(
                slug: "store-unavailable", status: .serviceUnavailable,
                detail: "The keyspace's cluster cannot be reached (\(reason)); try again. "
                    + "A change answered this way may or may not have been made.",
                headers: [HTTPHeader("Retry-After", "1")])
        }
    }

    /// The problem for any error a route threw; one not of our vocabularies is a 500.
    init(_ error: any Error, logger: Logger) {
        switch error {
        case let error as GatewayError:
            self.init(error)
        case let error as KeyspaceError:
            self.init(error)
        case let error as HTTPError:
            self.init(error)
        default:
            logger.error("Unexpected error", metadata: ["error": "\(error)"])
            self.init(
                slug: "internal-error", status: .internalServerError,
                detail: "The server failed to answer; the failure is logged.")
        }
    }

    /// The answer: this problem as JSON with its status and headers.
    var response: HTTPResponse {
        .json(
            self, status: HTTPStatus(code: status),
            contentType: Self.mediaType, headers: headers)
    }
}
