package import Keyspace
package import Logging
package import MicroHTTPD

/// The HTTP API of Keygate over a keyspace: routes each request and answers it at once on
/// libmicrohttpd's thread, or parks it when it must wait for a message.
///
/// Generic over the engine so that routes know only the `KeyspaceStore` operations.
package final class Gateway<Store: KeyspaceStore>: HTTPHandler {
    let store: Store
    let staticFiles: StaticFiles
    let openAPIDocument: [UInt8]?
    let maxWait: Duration
    let eventStreams: EventStreams
    let webSocketSettings: WebSocketSettings
    let logger: Logger

    /// Creates the API over `store`, serving files from `publicDirectory` and the contract
    /// from `openAPIDocument` (a 404 when `nil`); pops wait at most `maxWait`, event
    /// streams get a heartbeat every `heartbeat` once `start()` is called, and WebSocket
    /// sessions follow `webSocket`.
    package init(
        store: Store, publicDirectory: String, openAPIDocument: [UInt8]?, maxWait: Duration,
        heartbeat: Duration, webSocket: WebSocketSettings = WebSocketSettings(), logger: Logger
    ) {
        self.store = store
        self.staticFiles = StaticFiles(directory: publicDirectory)
        self.openAPIDocument = openAPIDocument
        self.maxWait = maxWait
        self.eventStreams = EventStreams(heartbeat: heartbeat)
        self.webSocketSettings = webSocket
        self.logger = logger
    }

    /// Starts sending heartbeats to event streams.
    package func start() {
        eventStreams.start()
    }

    /// Stops the heartbeats; after the HTTP server has stopped.
    package func stop() {
        eventStreams.stop()
    }

    /// Answers a request; every failure becomes a problem answer.
    package func answer(_ request: HTTPRequest) -> HTTPAnswer {
        do {
            return try route(request)
        } catch {
            return .respond(Problem(error, logger: logger).response)
        }
    }

    /// Renders an error the HTTP layer detected.
    package func response(for error: HTTPError) -> HTTPResponse {
        Problem(error).response
    }

    private func route(_ request: HTTPRequest) throws -> HTTPAnswer {
        let route = try Router.route(request.method, path: request.path)
        if request.method == .options {
            let allowed = route.allowedMethods.map(\.rawValue).joined(separator: ", ")
            return .respond(HTTPResponse(status: .noContent, headers: [HTTPHeader("Allow", allowed)]))
        }
        switch route {
        case .queuePop(let segment):
            let parameters = try request.parameters(allowed: ["wait"])
            return try popMessage(request, from: [Self.key(fromSegment: segment)], wait: parameters["wait"])
        case .pop:
            let parameters = try request.parameters(allowed: ["queues", "wait"])
            guard let queues = parameters["queues"] else {
                throw HTTPError.badRequest("'queues' is required: a comma-separated list of queue names.")
            }
            return try popMessage(request, from: QueueList.parse(queues), wait: parameters["wait"])
        case .events:
            return try streamEvents(request)
        case .webSocket:
            return try upgradeToWebSocket(request)
        default:
            return .respond(try respond(to: request, route: route))
        }
    }

    private func respond(to request: HTTPRequest, route: Route) throws -> HTTPResponse {
        switch route {
        case .cacheValue(let segment):
            let key = try Self.key(fromSegment: segment)
            switch request.method {
            case .put: return try writeValue(request, key: key)
            case .delete: return try deleteValue(request, key: key)
            default: return try readValue(request, key: key)
            }
        case .cacheTimeToLive(let segment):
            let key = try Self.key(fromSegment: segment)
            return request.method == .put
                ? try updateTimeToLive(request, key: key) : try readTimeToLive(request, key: key)
        case .queue(let segment):
            let queue = try Self.key(fromSegment: segment)
            switch request.method {
            case .post: return try pushMessage(request, to: queue)
            case .delete: return try deleteQueue(request, queue)
            default: return try describeQueue(request, queue)
            }
        case .queueMessages(let segment):
            return try peekMessages(request, Self.key(fromSegment: segment))
        case .keys:
            return try listKeys(request)
        case .health:
            _ = try request.parameters(allowed: [])
            return .json(["status": "ok"])
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

    /// The key named by one raw path segment.
    private static func key(fromSegment segment: ArraySlice<UInt8>) throws -> Key {
        try Key(PercentEncoding.decode(segment))
    }
}
