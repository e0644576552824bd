import MicroHTTPD

/// Which other origins' web pages may call the API (CORS, the Fetch standard), and the headers
/// that tell a browser so.
///
/// Empty by default: then no answer carries CORS headers, browsers keep pages of other origins
/// out, and nothing about a request is even looked at. Origins are compared as browsers send
/// them, case-insensitively.
package struct CORSPolicy: Sendable {
    /// The request headers a page of an allowed origin may send.
    static let allowedRequestHeaders = "Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID"
    /// The answer headers a page of an allowed origin may read besides the CORS-safelisted ones.
    static let exposedHeaders = "Allow, Content-Type, ETag, Location, Queue, Retry-After"

    /// The origins whose pages may call the API, each `*` or `scheme://host[:port]`; `*` allows
    /// every one. Default none: same origin only.
    package var origins: [String] = [] {
        didSet { allowedOrigins = Set(origins.map { $0.lowercased() }) }
    }
    /// How long a browser may cache a preflight's answer. Default 600 s.
    package var maxAge = Duration.seconds(600)
    /// `origins`, lowercased.
    private var allowedOrigins: Set<String> = []

    /// A policy allowing `origins`, whose preflight answers browsers may keep for `maxAge`.
    package init(origins: [String] = [], maxAge: Duration = .seconds(600)) {
        self.origins = origins
        self.maxAge = maxAge
        allowedOrigins = Set(origins.map { $0.lowercased() })
    }

    /// Whether any origin is allowed at all; `false` skips every CORS step.
    var isEnabled: Bool { !allowedOrigins.isEmpty }

    /// Whether a page of `origin` may read the answers.
    func allows(_ origin: String) -> Bool {
        allowedOrigins.contains("*") || allowedOrigins.contains(origin.lowercased())
    }

    /// The headers of an answer to a request from `origin` (its `Origin` header): who may read
    /// it and which headers, and that it varies with the origin. None when the policy is empty.
    func answerHeaders(origin: String?) -> [HTTPHeader] {
        guard isEnabled else { return [] }
        // The answer depends on the Origin header even when it carries no CORS headers: a
        // cache must not give one origin's answer to another.
        let vary = HTTPHeader("Vary", "Origin")
        guard let origin, allows(origin) else { return [vary] }
        return [
            HTTPHeader("Access-Control-Allow-Origin", allowedOrigins.contains("*") ? "*" : origin),
            HTTPHeader("Access-Control-Expose-Headers", Self.exposedHeaders),
            vary,
        ]
    }

    /// The headers that grant a preflight (`OPTIONS` with `Access-Control-Request-Method`) from
    /// `origin` for an endpoint answering `methods`, besides those of `answerHeaders`; none for
    /// a request that is not a preflight or an origin not allowed.
    func preflightHeaders(origin: String?, requestedMethod: String?, methods: MethodSet) -> [HTTPHeader] {
        guard isEnabled, let origin, requestedMethod != nil, allows(origin) else { return [] }
        return [
            HTTPHeader("Access-Control-Allow-Methods", methods.allowHeader),
            HTTPHeader("Access-Control-Allow-Headers", Self.allowedRequestHeaders),
            HTTPHeader("Access-Control-Max-Age", String(maxAge.components.seconds)),
        ]
    }

    /// Whether a WebSocket handshake may go ahead: browsers send `Origin` with every one and
    /// do not apply CORS to it, so the server must refuse other origins itself. A handshake
    /// without `Origin` (not from a browser) or from the server's own origin is always allowed.
    func allowsWebSocket(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        if allows(origin) { return true }
        guard let host, let separator = origin.firstRange(of: "://") else { return false }
        return origin[separator.upperBound...].lowercased() == host.lowercased()
    }
}
