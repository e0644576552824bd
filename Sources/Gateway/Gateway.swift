package import Keyspace
package import Logging
package import MicroHTTPD

import struct Synchronization.Atomic

/// The HTTP API of Keygate over a keyspace: routes each request and answers it at once on
/// libmicrohttpd's thread, or parks it when it must wait for a message.
///
/// Generic over the engine so that routes know only the `KeyspaceStore` operations.
package final class Gateway<Store: KeyspaceStore>: HTTPHandler {
    let store: Store
    let staticFiles: StaticFiles
    let openAPIDocument: [UInt8]?
    let maxWait: Duration
    /// Consumers one queue may have waiting when not told otherwise.
    package static var defaultMaxWaitingPerQueue: Int { 10_000 }

    /// Consumers one queue may have waiting; more get a 503.
    let maxWaitingPerQueue: Int
    /// The longest key taken.
    let keyLimit: KeyLimit
    let eventStreams: EventStreams
    let webSocketSettings: WebSocketSettings
    let cors: CORSPolicy
    /// `nil` when metrics are off.
    let metrics: GatewayMetrics?
    let observer: RequestObserver
    let logger: Logger
    private let isReady = Atomic<Bool>(false)

    /// Creates the API over `store`, serving files from `publicDirectory` and the contract
    /// from `openAPIDocument` (a 404 when `nil`); pops wait at most `maxWait`, and at most
    /// `maxWaitingPerQueue` of them on one queue; keys are at most `maxKeyBytes`; event
    /// streams get a heartbeat every `heartbeat` once `start()` is called, and WebSocket
    /// sessions follow `webSocket`. Pages of other origins are let in by `cors`; requests are
    /// counted in `metrics` and logged to `accessLogger` when given.
    package init(
        store: Store, publicDirectory: String, openAPIDocument: [UInt8]?, maxWait: Duration,
        maxWaitingPerQueue: Int = defaultMaxWaitingPerQueue,
        maxKeyBytes: Int = Key.maxLength, heartbeat: Duration,
        webSocket: WebSocketSettings = WebSocketSettings(),
        cors: CORSPolicy = CORSPolicy(), metrics: GatewayMetrics? = nil, accessLogger: Logger? = nil,
        logger: Logger
    ) {
        self.store = store
        self.staticFiles = StaticFiles(directory: publicDirectory)
        self.openAPIDocument = openAPIDocument
        self.maxWait = maxWait
        self.maxWaitingPerQueue = maxWaitingPerQueue
        self.keyLimit = KeyLimit(maxBytes: maxKeyBytes)
        self.eventStreams = EventStreams(heartbeat: heartbeat, metrics: metrics)
        self.webSocketSettings = webSocket
        self.cors = cors
        self.metrics = metrics
        self.observer = RequestObserver(metrics: metrics, accessLogger: accessLogger)
        self.logger = logger
    }

    /// Starts sending heartbeats to event streams; `/readyz` answers 200 from now on.
    package func start() {
        eventStreams.start()
        isReady.store(true, ordering: .releasing)
    }

    /// `/readyz` answers 503 from now on, so that load balancers stop sending requests.
    package func beginStopping() {
        isReady.store(false, ordering: .releasing)
    }

    /// Stops the heartbeats; after `beginStopping()` and the HTTP server's stop.
    package func stop() {
        eventStreams.stop()
    }

    /// Answers a request; every failure becomes a problem answer. Adds the CORS headers its
    /// origin gets, and counts and logs it once answered.
    package func answer(_ request: HTTPRequest) -> HTTPAnswer {
        var record = observer.begin(request)
        let answer: HTTPAnswer
        do {
            let route = try Router.route(request.method, path: request.path)
            record?.route = RouteLabel(route)
            answer = try self.answer(request, route: route)
        } catch {
            answer = .respond(Problem(error, logger: logger).response)
        }
        guard record != nil || cors.isEnabled else { return answer }
        return finishing(answer, of: request, record: record)
    }

    /// `answer` with the CORS headers of the request's origin, counted and logged as answered
    /// (a parked one once its answer is known). Consumes `answer`, so that adding headers
    /// changes its arrays in place instead of copying them.
    private func finishing(
        _ answer: consuming HTTPAnswer, of request: HTTPRequest, record: RequestObserver.Record?
    ) -> HTTPAnswer {
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
        case .park(var parking):
            parking.responseHeaders += corsHeaders
            if record != nil {
                parking.onFinish = { [observer, record] response in
                    observer.finish(
                        record, status: response?.status ?? .clientClosedRequest,
                        bytesSent: response?.body.count ?? 0)
                }
            }
            return .park(parking)
        }
    }

    /// Renders an error the HTTP layer detected.
    package func response(for error: HTTPError) -> HTTPResponse {
        Problem(error).response
    }

    private func answer(_ request: HTTPRequest, route: Route) throws -> HTTPAnswer {
        if request.method == .options {
            // The key is checked as on every other method: a path naming no valid key has
            // no methods to list (found by schemathesis: OPTIONS answered 204 for any key).
            if let segment = route.keySegment {
                _ = try key(fromSegment: segment)
            }
            return .respond(options(request, route: route))
        }
        switch route {
        case .queuePop(let segment):
            let parameters = try request.parameters(allowed: ["wait"])
            return try popMessage(request, from: [key(fromSegment: segment)], wait: parameters["wait"])
        case .pop:
            let parameters = try request.parameters(allowed: ["queues", "wait"])
            guard let queues = parameters["queues"] else {
                throw HTTPError.badRequest("'queues' is required: a comma-separated list of queue names.")
            }
            return try popMessage(
                request, from: QueueList.parse(queues, keyLimit: keyLimit), wait: parameters["wait"])
        case .events:
            return try streamEvents(request)
        case .webSocket:
            return try upgradeToWebSocket(request)
        default:
            let response = try respond(to: request, route: route)
            switch request.method {
            case .put, .post, .delete: return acknowledged(response)
            default: return .respond(response)
            }
        }
    }

    private func respond(to request: HTTPRequest, route: Route) throws -> HTTPResponse {
        switch route {
        case .cacheValue(let segment):
            let key = try key(fromSegment: segment)
            switch request.method {
            case .put: return try writeValue(request, key: key)
            case .delete: return try deleteValue(request, key: key)
            default: return try readValue(request, key: key)
            }
        case .cacheTimeToLive(let segment):
            let key = try key(fromSegment: segment)
            return request.method == .put
                ? try updateTimeToLive(request, key: key) : try readTimeToLive(request, key: key)
        case .queue(let segment):
            let queue = try key(fromSegment: segment)
            switch request.method {
            case .post: return try pushMessage(request, to: queue)
            case .delete: return try deleteQueue(request, queue)
            default: return try describeQueue(request, queue)
            }
        case .queueMessages(let segment):
            return try peekMessages(request, key(fromSegment: segment))
        case .keys:
            return try listKeys(request)
        case .health:
            _ = try request.parameters(allowed: [])
            return .json(HealthBody(store.persistenceStatus))
        case .readiness:
            _ = try request.parameters(allowed: [])
            guard isReady.load(ordering: .acquiring) else {
                throw HTTPError(status: .serviceUnavailable, detail: "Keygate is starting or stopping.")
            }
            return .json(["status": "ready"])
        case .metrics:
            return try renderMetrics(request)
        case .openAPI:
            guard let openAPIDocument else {
                throw HTTPError.notFound("This server was started without its openapi.yaml.")
            }
            return HTTPResponse(
                status: .ok, headers: [HTTPHeader("Content-Type", "application/yaml")],
                body: openAPIDocument)
        case .file(let path):
            return try staticFiles.response(forPath: path)
        case .queuePop, .pop, .events, .webSocket:
            preconditionFailure("pops, event streams and WebSockets are answered by route(_:)")
        }
    }

    /// The answer to `OPTIONS`: the methods the endpoint allows, and for a CORS preflight from
    /// an allowed origin, what its page may send.
    private func options(_ request: HTTPRequest, route: Route) -> HTTPResponse {
        let allowed = route.allowedMethods
        var headers = [HTTPHeader("Allow", allowed.map(\.rawValue).joined(separator: ", "))]
        if cors.isEnabled {
            headers += cors.preflightHeaders(
                origin: request.header("Origin"),
                requestedMethod: request.header("Access-Control-Request-Method"), methods: allowed)
        }
        return HTTPResponse(status: .noContent, headers: headers)
    }

    /// The key named by one raw path segment.
    private func key(fromSegment segment: ArraySlice<UInt8>) throws -> Key {
        try keyLimit.key(PercentEncoding.decode(segment))
    }
}
