import MicroHTTPD

/// An endpoint of the gateway, with the raw path parts it needs.
enum Route: Equatable {
    /// `/v1/cache/{key}`: a string value; the key segment is still percent-encoded.
    case cacheValue(key: ArraySlice<UInt8>)
    /// `/v1/cache/{key}/ttl`: a key's time to live.
    case cacheTimeToLive(key: ArraySlice<UInt8>)
    /// `/v1/queues/{name}`: a queue; push to it, read its state, delete it.
    case queue(name: ArraySlice<UInt8>)
    /// `/v1/queues/{name}/pop`: pop from one queue.
    case queuePop(name: ArraySlice<UInt8>)
    /// `/v1/queues/{name}/messages`: peek at a queue's oldest messages.
    case queueMessages(name: ArraySlice<UInt8>)
    /// `/v1/pop`: pop from the first non-empty of several queues.
    case pop
    /// `/v1/keys`: the listing.
    case keys
    /// `/v1/events`: the stream of keyspace events.
    case events
    /// `/v1/ws`: the WebSocket endpoint.
    case webSocket
    /// `/healthz`: liveness.
    case health
    /// `/readyz`: readiness, 503 while starting or stopping.
    case readiness
    /// `/metrics`: Prometheus metrics.
    case metrics
    /// `/openapi.yaml`: the contract.
    case openAPI
    /// Anything else: a file under `public/`.
    case file(path: ArraySlice<UInt8>)

    /// Whether the endpoint answers `method`; the same as `allowedMethods.contains(method)`
    /// without building the list on every request.
    func allows(_ method: HTTPMethod) -> Bool {
        switch (self, method) {
        case (_, .options): true
        case (.queuePop, .post), (.pop, .post): true
        case (.queuePop, _), (.pop, _): false
        case (.webSocket, .get): true
        case (.webSocket, _): false
        case (_, .get), (_, .head): true
        case (.cacheValue, .put), (.cacheValue, .delete), (.cacheTimeToLive, .put): true
        case (.queue, .post), (.queue, .delete): true
        default: false
        }
    }

    /// The still percent-encoded segment that names a key or queue, for the routes with one.
    var keySegment: ArraySlice<UInt8>? {
        switch self {
        case .cacheValue(let segment), .cacheTimeToLive(let segment), .queue(let segment),
            .queuePop(let segment), .queueMessages(let segment):
            segment
        case .pop, .keys, .events, .webSocket, .health, .readiness, .metrics, .openAPI, .file:
            nil
        }
    }

    /// The methods the endpoint answers; `HEAD` goes with every `GET`, `OPTIONS` everywhere.
    var allowedMethods: [HTTPMethod] {
        switch self {
        case .cacheValue: [.get, .head, .put, .delete, .options]
        case .cacheTimeToLive: [.get, .head, .put, .options]
        case .queue: [.get, .head, .post, .delete, .options]
        case .queuePop, .pop: [.post, .options]
        case .webSocket: [.get, .options]
        case .queueMessages, .keys, .events, .health, .readiness, .metrics, .openAPI, .file:
            [.get, .head, .options]
        }
    }
}
