/// The name of an endpoint in metrics and logs: one per route, whatever the key, so that the
/// number of series stays bounded.
enum RouteLabel: Int, CaseIterable, Sendable {
    case cacheValue, cacheTimeToLive, queue, queuePop, queueMessages, pop, keys, events, webSocket
    case health, readiness, metrics, openAPI, file
    /// A request that matched no endpoint (404) or not with its method (405).
    case unmatched

    /// The route's label.
    init(_ route: Route) {
        self =
            switch route {
            case .cacheValue: .cacheValue
            case .cacheTimeToLive: .cacheTimeToLive
            case .queue: .queue
            case .queuePop: .queuePop
            case .queueMessages: .queueMessages
            case .pop: .pop
            case .keys: .keys
            case .events: .events
            case .webSocket: .webSocket
            case .health: .health
            case .readiness: .readiness
            case .metrics: .metrics
            case .openAPI: .openAPI
            case .file: .file
            }
    }

    /// The endpoint as the OpenAPI document names its path.
    var text: String {
        switch self {
        case .cacheValue: "/v1/cache/{key}"
        case .cacheTimeToLive: "/v1/cache/{key}/ttl"
        case .queue: "/v1/queues/{name}"
        case .queuePop: "/v1/queues/{name}/pop"
        case .queueMessages: "/v1/queues/{name}/messages"
        case .pop: "/v1/pop"
        case .keys: "/v1/keys"
        case .events: "/v1/events"
        case .webSocket: "/v1/ws"
        case .health: "/healthz"
        case .readiness: "/readyz"
        case .metrics: "/metrics"
        case .openAPI: "/openapi.yaml"
        case .file: "/{file}"
        case .unmatched: "unmatched"
        }
    }
}
