import Keyspace
import MicroHTTPD

extension Gateway {
    /// The headers of an event stream: no caching, and no buffering by a proxy such as nginx.
    static var eventStreamHeaders: [HTTPHeader] {
        [
            HTTPHeader("Content-Type", "text/event-stream"),
            HTTPHeader("Cache-Control", "no-cache"),
            HTTPHeader("X-Accel-Buffering", "no"),
        ]
    }

    /// `GET /v1/events?key=GLOB&type=a,b&last_event_id=N`: a stream of server-sent events, of
    /// the keys `caller` may subscribe to; `HEAD` answers its headers only. (`ticket` is read
    /// when the request is authenticated.)
    func streamEvents(_ request: HTTPRequest, by caller: Caller) throws -> HTTPAnswer {
        var patterns: [KeyPattern] = []
        var parameters: [String: String] = [:]
        for item in try request.queryItems() {
            switch item.name {
            case "key":
                patterns.append(try KeyPattern(item.value))
            case "type", "last_event_id", Self.ticketParameter:
                guard parameters.updateValue(item.value, forKey: item.name) == nil else {
                    throw GatewayError.badRequest(
                        "The query parameter '\(item.name)' is given more than once.")
                }
            default:
                throw GatewayError.badRequest(
                    "Unknown query parameter '\(item.name)'; known: key, last_event_id, ticket, type.")
            }
        }
        let types = try parameters["type"].map {
            try EventTypeList.parse($0.split(separator: ",", omittingEmptySubsequences: false))
        }
        let filter = EventFilter(patterns: patterns, types: types ?? Set(KeyspaceEventType.allCases))
        let queryID = try parameters["last_event_id"].map(EventTypeList.eventID)
        let headerID = try request.header("Last-Event-ID").map(EventTypeList.eventID)
        // The header wins: a browser sends it on every reconnection, with the first URL.
        let subscription = try operations.performAtOnce(
            Events.Subscribe(filter: filter, lastEventID: headerID ?? queryID), by: caller)
        guard request.method != .head else {
            // A stream that ends at once: the same headers as a GET, and no body. libmicrohttpd
            // 0.9.75 still sends the chunked terminator after the head of a HEAD, which a client
            // would read as the start of its next answer: the connection closes after it.
            return .stream(
                HTTPStream(
                    status: .ok, headers: Self.eventStreamHeaders + [HTTPHeader("Connection", "close")],
                    source: EmptyStream()))
        }
        let stream = EventStream(
            store: store, subscription: subscription, fanOut: fanOut, accessControl: accessControl,
            caller: caller)
        return .stream(HTTPStream(status: .ok, headers: Self.eventStreamHeaders, source: stream))
    }
}
