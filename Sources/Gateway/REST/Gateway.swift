import FoundationEssentials
package import Keyspace
package import Logging
package import MicroHTTPD
package import Plumbing

import struct Synchronization.Atomic

/// The HTTP API of Keygate over a keyspace: routes each request through the route table and
/// answers it at once on libmicrohttpd's thread, or parks it when it must wait.
///
/// Requests become operations (`Operations`), as WebSocket messages do; this type and its
/// extensions in REST/ only parse HTTP and render results. Generic over the engine, so that
/// routes know only the `KeyspaceStore` operations.
package final class Gateway<Store: KeyspaceStore>: HTTPHandler {
    /// What answers one route: the gateway, the request, where the route matched it, and who
    /// is asking.
    typealias Handler = @Sendable (Gateway, HTTPRequest, RouteMatch, Caller) throws -> HTTPAnswer

    /// The query parameter that carries a ticket where a header cannot be sent.
    static var ticketParameter: String { "ticket" }

    /// Where operations meet the store.
    let operations: Operations<Store>
    /// Every endpoint, declared once.
    let routes: RouteTable<Handler>
    /// What the gateway was told.
    let configuration: GatewayConfiguration
    let staticFiles: StaticFiles
    let openAPIDocument: [UInt8]?
    /// Event streams and WebSocket subscriptions: shared encodings, heartbeats.
    let fanOut: EventFanOut
    /// `nil` when metrics are off.
    let metrics: GatewayMetrics?
    /// Who may do what; `nil` when access control is off.
    let accessControl: AccessControl?
    let observer: RequestObserver
    let logger: Logger
    private let isReady = Atomic<Bool>(false)

    /// Creates the API over `store` as `configuration` says; waiting operations keep their
    /// deadlines in `deadlines`, requests are counted in `metrics` when given, and checked by
    /// `accessControl` when given.
    package init(
        store: Store, configuration: GatewayConfiguration, deadlines: DeadlineQueue, metrics: GatewayMetrics?,
        accessControl: AccessControl?, logger: Logger
    ) {
        operations = Operations(
            store: store, deadlines: deadlines, limits: configuration.limits, logger: logger, metrics: metrics
        )
        self.accessControl = accessControl
        routes = Self.makeRoutes()
        self.configuration = configuration
        staticFiles = StaticFiles(directory: configuration.publicDirectory)
        openAPIDocument = FileManager.default.contents(atPath: configuration.openAPIFile).map(Array.init)
        if openAPIDocument == nil {
            logger.warning(
                "No OpenAPI document; /openapi.yaml will answer 404",
                metadata: ["path": "\(configuration.openAPIFile)"])
        }
        fanOut = EventFanOut(heartbeat: configuration.heartbeat, metrics: metrics)
        self.metrics = metrics
        observer = RequestObserver(
            metrics: metrics, accessLogger: configuration.isAccessLogEnabled ? Self.accessLogger() : nil)
        self.logger = logger
    }

    /// The label of each route in metrics, by index, and the one of unmatched requests last.
    package static var routeLabels: [String] {
        makeRoutes().labels
    }

    /// The keyspace behind the API.
    var store: Store { operations.store }

    /// Starts sending heartbeats to event streams; `/readyz` answers 200 from now on.
    package func start() {
        fanOut.start()
        isReady.store(true, ordering: .releasing)
    }

    /// `/readyz` answers 503 from now on, so that load balancers stop sending requests.
    package func beginStopping() {
        isReady.store(false, ordering: .releasing)
    }

    /// Whether `/readyz` answers 200.
    var isAcceptingTraffic: Bool {
        isReady.load(ordering: .acquiring)
    }

    /// Stops the heartbeats; after `beginStopping()` and the HTTP server's stop.
    package func stop() {
        fanOut.stop()
    }

    /// Answers a request; every failure becomes a problem answer. Adds the CORS headers its
    /// origin gets, and counts and logs it once answered.
    package func answer(_ request: HTTPRequest) -> HTTPAnswer {
        var record = observer.begin(request)
        let answer: HTTPAnswer
        do {
            let match = try routes.route(request.method, path: request.path)
            record?.route = match.index
            if request.method == .options {
                answer = .respond(try options(request, match: match))
            } else {
                let route = routes.routes[match.index]
                let caller = try authenticate(request, for: route.access)
                record?.tokenName = caller.name
                answer = try route.handler(self, request, match, caller)
            }
        } catch {
            answer = .respond(Problem(error, logger: logger).response)
        }
        guard record != nil || configuration.cors.isEnabled else { return answer }
        return finishing(answer, of: request, record: record)
    }

    /// Who is asking: anyone, when access control is off or the route is open; else the holder
    /// of the token the request sends, or of the ticket it carries where `access` takes one.
    /// A 401 without either, a 403 for `admin` without the scope.
    private func authenticate(_ request: HTTPRequest, for access: RouteAccess) throws -> Caller {
        guard let accessControl, access != .open else { return .anyone }
        let authorization = request.header("Authorization")
        if access == .tokenOrTicket, authorization == nil, request.hasQuery,
            let ticket = try request.queryItems().last(where: { $0.name == Self.ticketParameter })
        {
            return try accessControl.redeem(ticket: ticket.value)
        }
        let caller = try accessControl.authenticate(authorization: authorization)
        if access == .admin {
            try operations.authorize(.some(.admin), for: caller.permissions)
        }
        return caller
    }

    /// Renders an error the HTTP layer detected.
    package func response(for error: HTTPError) -> HTTPResponse {
        Problem(error).response
    }

    /// The key named by one raw path segment, percent-decoded and checked.
    func key(_ segment: ArraySlice<UInt8>) throws -> Key {
        try operations.limits.keys.key(PercentEncoding.decode(segment))
    }

    /// `answer` with the CORS headers of the request's origin, counted and logged as answered
    /// (a parked one once its answer is known). Consumes `answer`, so that adding headers
    /// changes its arrays in place instead of copying them.
    private func finishing(
        _ answer: consuming HTTPAnswer, of request: HTTPRequest, record: RequestObserver.Record?
    ) -> HTTPAnswer {
        let cors = configuration.cors
        let corsHeaders = cors.isEnabled ? cors.answerHeaders(origin: request.header("Origin")) : []
        switch consume answer {
        case .respond(var response):
            if !corsHeaders.isEmpty {
                response.headers += corsHeaders
            }
            observer.finish(record, status: response.status, bytesSent: response.body.count)
            return .respond(response)
        case .stream(var stream):
            stream.headers += corsHeaders
            observer.finish(record, status: stream.status, bytesSent: 0)
            return .stream(stream)
        case .upgrade(let upgrade):
            observer.finish(record, status: .switchingProtocols, bytesSent: 0)
            return .upgrade(upgrade)
        case .park(var plan):
            plan.responseHeaders += corsHeaders
            if record != nil {
                plan.onFinish = { [observer, record] response in
                    observer.finish(
                        record, status: response?.status ?? .clientClosedRequest,
                        bytesSent: response?.body.count ?? 0)
                }
            }
            return .park(plan)
        }
    }

    /// The answer to `OPTIONS`: the methods the endpoint allows, and for a CORS preflight from
    /// an allowed origin, what its page may send.
    private func options(_ request: HTTPRequest, match: RouteMatch) throws -> HTTPResponse {
        // The keys are checked as on every other method: a path naming no valid key has no
        // methods to list (found by schemathesis: OPTIONS answered 204 for any key).
        for segment in match.keySegments {
            _ = try key(segment)
        }
        let allowed = routes.routes[match.index].methods
        var headers = [HTTPHeader("Allow", allowed.allowHeader)]
        let cors = configuration.cors
        if cors.isEnabled {
            headers += cors.preflightHeaders(
                origin: request.header("Origin"),
                requestedMethod: request.header("Access-Control-Request-Method"), methods: allowed)
        }
        return HTTPResponse(status: .noContent, headers: headers)
    }

    /// The logger of access-log lines: at `info` whatever the server's log level, since asking
    /// for the access log asks for those lines.
    private static func accessLogger() -> Logger {
        var logger = Logger(label: "keygate.access")
        logger.logLevel = .info
        return logger
    }
}
