import CoreMetrics
package import Keyspace
import MicroHTTPD
import Plumbing
package import Prometheus

/// Keygate's metrics, made through swift-metrics (but for the request-duration histogram,
/// made on swift-prometheus's registry for speed: see `durations`) and exported in the
/// Prometheus text format at `/metrics` by swift-prometheus.
///
/// Counts are kept as they happen, with an atomic add or a short histogram lock on the
/// request's own thread; levels (connections, keys, subscribers) are read when scraped.
package final class GatewayMetrics: Sendable {
    /// What the server reads of itself at each scrape.
    package struct Levels: Sendable {
        /// Open connections, suspended ones included.
        package var openConnections = 0
        /// Open WebSocket sockets.
        package var webSockets = 0
        /// Consumers waiting for a message, over HTTP or WebSocket.
        package var waitingConsumers = 0
        /// Keys holding a string.
        package var strings = 0
        /// Keys holding a queue.
        package var queues = 0
        /// The messages of every queue, by state.
        package var messages = MessageCounts()
        /// The id of the newest event, which counts the events published since start-up.
        package var lastEventID: UInt64 = 0
        /// The bytes the keyspace holds; `nil` when the store does not hold its data in this
        /// process.
        package var memoryUsed: Int?
        /// The memory limit; `nil` for none.
        package var memoryLimit: Int?
        /// The keys evicted since start-up.
        package var evictedKeys: UInt64 = 0

        /// Levels of an idle, empty server.
        package init() {}
    }

    /// Where a byte count was sent or received.
    enum Transport: String {
        case http
        case eventStream = "sse"
        case webSocket = "websocket"
    }

    /// The help line of each metric, which swift-metrics has no place for.
    private static let help: [String: String] = [
        requestsLabel: "Requests answered, by route, method and status (499: the client left first).",
        "keygate_received_bytes_total": "Body bytes received: HTTP request bodies and WebSocket frames.",
        "keygate_sent_bytes_total": "Body bytes sent: HTTP answers, event streams and WebSocket frames.",
        "keygate_open_connections":
            "Open connections, parked long polls, event streams and WebSockets included.",
        "keygate_waiting_consumers":
            "Pops waiting for a message, over HTTP (parked long polls) or WebSocket.",
        "keygate_event_streams": "Open server-sent event streams (/v1/events subscribers).",
        "keygate_websockets": "Open WebSocket sockets (/v1/ws).",
        "keygate_keys": "Keys held, by type, expired ones not yet removed included.",
        "keygate_events_published_total": "Keyspace events published.",
        "keygate_event_gaps_total": "Gap notices sent to subscribers that missed events.",
        "keygate_events_dropped_total":
            "Events subscribers missed, as announced by gaps (one count per subscriber).",
        "keygate_keys_expired_total": "Keys removed at their deadline.",
        "keygate_evicted_keys_total": "Keys evicted to make room under the memory limit (--max-memory).",
        "keygate_memory_used_bytes":
            "Bytes the keyspace holds, as the engine counts them: records, index shares, queues' messages.",
        "keygate_memory_limit_bytes": "The memory limit (--max-memory); 0 when there is none.",
        "keygate_auth_failures_total":
            "Requests refused by access control: no token, an unknown token, a token outside its scopes, "
            + "or an unusable ticket.",
        KeyspaceEngine.expiryLatenessLabel:
            "How long after its deadline a key was removed and its expired event published.",
        "keygate_queue_messages":
            "Messages in every queue, by state: visible (in line), in_flight (leased), delayed.",
        "keygate_redeliveries_total": "Messages received again after an earlier lease ended unacknowledged.",
        "keygate_dead_lettered_total":
            "Messages moved to a dead-letter queue after their last allowed lease.",
        KeyspaceEngine.visibilityLatenessLabel:
            "How long after its moment a lease or a delay ended and its message became visible again.",
        // The NATS engine's, which the gateway does not import.
        "keygate_nats_events_resent_total":
            "Events published again to the cluster's event stream: unconfirmed (not back within 2 s), "
            + "or stand_in (held for the gateway that wrote the key, which had not published it).",
    ]
    private static let requestsLabel = "keygate_http_requests_total"
    /// The request-duration histogram, which carries its own help.
    private static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "keygate", subsystem: "http", metricName: "request_duration", unitName: "seconds",
            helpText: "Time from a request's arrival to its answer, waits of long polls included.")
    }
    /// Its buckets, in seconds: from a fast answer to the longest long poll.
    private static let durationBuckets = [
        0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1, 5, 30, 60,
    ]

    /// The factory every layer makes its metrics with; they all export to this registry.
    package let factory: PrometheusMetricsFactory
    /// The label of each route by index; the last one is for requests that matched none.
    private let routeLabels: [String]
    private let registry: PrometheusCollectorRegistry
    private let requests: RequestCounters
    /// Request durations in seconds, by route index (`routeIndex(_:)`). Made on the registry itself:
    /// through swift-metrics, a `Recorder` converts each value through generic code and a
    /// `Timer` compares `Duration`s, which together cost more than the rest of the counting.
    private let durations: [ValueHistogram]
    private let httpReceived, webSocketReceived: CoreMetrics.Counter
    private let httpSent, eventStreamSent, webSocketSent: CoreMetrics.Counter
    private let eventGaps: CoreMetrics.Counter
    private let eventsDropped: CoreMetrics.Counter
    /// Refusals by access control, by `AuthenticationFailure.allCases` index.
    private let authenticationFailures: [CoreMetrics.Counter]
    private let levels: LevelGauges
    private let scrape = Mutex<Scrape>(Scrape())

    private struct Scrape {
        var readLevels: (@Sendable () -> Levels)?
        var countedEvents: UInt64 = 0
        var countedEvictions: UInt64 = 0
    }

    /// A gauge per level, and the counter that follows the newest event id.
    private struct LevelGauges {
        let openConnections, webSockets, waitingConsumers, eventStreams, strings, queues: CoreMetrics.Gauge
        let memoryUsed, memoryLimit: CoreMetrics.Gauge
        let visibleMessages, inFlightMessages, delayedMessages: CoreMetrics.Gauge
        let eventsPublished, evictedKeys: CoreMetrics.Counter

        init(factory: any MetricsFactory) {
            openConnections = CoreMetrics.Gauge(label: "keygate_open_connections", factory: factory)
            webSockets = CoreMetrics.Gauge(label: "keygate_websockets", factory: factory)
            waitingConsumers = CoreMetrics.Gauge(label: "keygate_waiting_consumers", factory: factory)
            eventStreams = CoreMetrics.Gauge(label: "keygate_event_streams", factory: factory)
            strings = CoreMetrics.Gauge(
                label: "keygate_keys", dimensions: [("type", "string")], factory: factory)
            queues = CoreMetrics.Gauge(
                label: "keygate_keys", dimensions: [("type", "queue")], factory: factory)
            func messages(_ state: String) -> CoreMetrics.Gauge {
                CoreMetrics.Gauge(
                    label: "keygate_queue_messages", dimensions: [("state", state)], factory: factory)
            }
            visibleMessages = messages("visible")
            inFlightMessages = messages("in_flight")
            delayedMessages = messages("delayed")
            eventsPublished = CoreMetrics.Counter(label: "keygate_events_published_total", factory: factory)
            memoryUsed = CoreMetrics.Gauge(label: "keygate_memory_used_bytes", factory: factory)
            memoryLimit = CoreMetrics.Gauge(label: "keygate_memory_limit_bytes", factory: factory)
            evictedKeys = CoreMetrics.Counter(label: "keygate_evicted_keys_total", factory: factory)
        }
    }

    /// Metrics in a registry of their own, so that servers in one process never mix counts;
    /// requests are counted by route, named `routeLabels` by index, the last one for
    /// requests that matched no route.
    package init(routeLabels: [String]) {
        self.routeLabels = routeLabels
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        let latenessBuckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000].map {
            .milliseconds($0)
        }
        factory.durationHistogramBuckets[KeyspaceEngine.expiryLatenessLabel] = latenessBuckets
        factory.durationHistogramBuckets[KeyspaceEngine.visibilityLatenessLabel] = latenessBuckets
        self.factory = factory
        requests = RequestCounters(label: Self.requestsLabel, routeLabels: routeLabels, factory: factory)
        durations = routeLabels.map {
            registry.makeValueHistogram(
                descriptor: Self.duration, labels: [("route", $0)], buckets: Self.durationBuckets)
        }
        func counter(_ label: String, _ transport: Transport) -> CoreMetrics.Counter {
            CoreMetrics.Counter(
                label: label, dimensions: [("transport", transport.rawValue)], factory: factory)
        }
        httpReceived = counter("keygate_received_bytes_total", .http)
        webSocketReceived = counter("keygate_received_bytes_total", .webSocket)
        httpSent = counter("keygate_sent_bytes_total", .http)
        eventStreamSent = counter("keygate_sent_bytes_total", .eventStream)
        webSocketSent = counter("keygate_sent_bytes_total", .webSocket)
        eventGaps = CoreMetrics.Counter(label: "keygate_event_gaps_total", factory: factory)
        eventsDropped = CoreMetrics.Counter(label: "keygate_events_dropped_total", factory: factory)
        authenticationFailures = AuthenticationFailure.allCases.map { reason in
            CoreMetrics.Counter(
                label: "keygate_auth_failures_total", dimensions: [("reason", reason.rawValue)],
                factory: factory)
        }
        levels = LevelGauges(factory: factory)
    }

    /// Tells the metrics how to read the server's levels at each scrape.
    package func readLevels(with read: @escaping @Sendable () -> Levels) {
        scrape.withLock { $0.readLevels = read }
    }

    /// Counts an answered request of the method with `HTTPMethod.commonIndex` `methodIndex`,
    /// and how long it took.
    func countRequest(
        route: Int?, methodIndex: Int, status: HTTPStatus, nanoseconds: UInt64,
        bytesReceived: Int, bytesSent: Int
    ) {
        let route = route ?? routeLabels.count - 1
        requests.increment(route: route, methodIndex: methodIndex, status: status)
        durations[route].record(Double(nanoseconds) / 1_000_000_000)
        count(received: bytesReceived, over: .http)
        count(sent: bytesSent, over: .http)
    }

    /// Counts a request refused by access control, for `reason`.
    package func countAuthenticationFailure(_ reason: AuthenticationFailure) {
        guard let index = AuthenticationFailure.allCases.firstIndex(of: reason) else { return }
        authenticationFailures[index].increment()
    }

    /// Counts a gap announced to a subscriber: the ids in `lost` were not delivered to it.
    func countGap(_ lost: ClosedRange<UInt64>) {
        eventGaps.increment()
        eventsDropped.increment(by: lost.count)
    }

    /// Counts body bytes received; none is received over an event stream.
    func count(received bytes: Int, over transport: Transport) {
        guard bytes > 0 else { return }
        switch transport {
        case .http: httpReceived.increment(by: bytes)
        case .webSocket: webSocketReceived.increment(by: bytes)
        case .eventStream: preconditionFailure("an event stream receives nothing")
        }
    }

    /// Counts body bytes sent.
    func count(sent bytes: Int, over transport: Transport) {
        guard bytes > 0 else { return }
        switch transport {
        case .http: httpSent.increment(by: bytes)
        case .eventStream: eventStreamSent.increment(by: bytes)
        case .webSocket: webSocketSent.increment(by: bytes)
        }
    }

    /// Every metric in the Prometheus text format (version 0.0.4), levels read now, with
    /// `eventStreams` open. O(series).
    func render(eventStreams: Int) -> [UInt8] {
        scrape.withLock { scrape in
            let now = scrape.readLevels?() ?? Levels()
            levels.openConnections.record(now.openConnections)
            levels.webSockets.record(now.webSockets)
            levels.waitingConsumers.record(now.waitingConsumers)
            levels.eventStreams.record(eventStreams)
            levels.strings.record(now.strings)
            levels.queues.record(now.queues)
            levels.visibleMessages.record(now.messages.visible)
            levels.inFlightMessages.record(now.messages.inFlight)
            levels.delayedMessages.record(now.messages.delayed)
            if now.lastEventID > scrape.countedEvents {
                levels.eventsPublished.increment(by: Int64(now.lastEventID - scrape.countedEvents))
                scrape.countedEvents = now.lastEventID
            }
            if let used = now.memoryUsed {
                levels.memoryUsed.record(used)
                levels.memoryLimit.record(now.memoryLimit ?? 0)
            }
            if now.evictedKeys > scrape.countedEvictions {
                levels.evictedKeys.increment(by: Int64(now.evictedKeys - scrape.countedEvictions))
                scrape.countedEvictions = now.evictedKeys
            }
        }
        return Self.addingHelp(to: registry.emitToString())
    }

    /// The exposition with a `# HELP` line before each metric's `# TYPE` line.
    private static func addingHelp(to exposition: String) -> [UInt8] {
        var text = ""
        text.reserveCapacity(exposition.utf8.count + help.count * 100)
        for line in exposition.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "),
                let name = line.dropFirst("# TYPE ".count).split(separator: " ").first,
                let help = help[String(name)]
            {
                text += "# HELP \(name) \(help)\n"
            }
            text += line
            text += "\n"
        }
        if text.hasSuffix("\n\n") {
            text.removeLast()
        }
        return Array(text.utf8)
    }
}
