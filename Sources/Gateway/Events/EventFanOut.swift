import Plumbing

/// What every event stream and WebSocket subscription of a gateway shares: events encoded
/// once for all of them, the open streams, and the thread that sends them heartbeats.
///
/// A heartbeat keeps proxies from closing an idle stream, and makes the next write fail on a
/// stream whose client is gone, which ends it and releases its connection.
final class EventFanOut: Sendable {
    /// Events in their wire form, shared by the streams.
    let encoded = EncodedEvents()
    /// Where streams count the bytes they send and the gaps they announce; `nil` when off.
    let metrics: GatewayMetrics?
    private let streams = Mutex<[ObjectIdentifier: EventStream]>([:])
    private let interval: Duration
    private let thread = WorkerThread(name: "keygate-heartbeats")

    /// Streams that get a heartbeat every `interval` once started, counted in `metrics`.
    init(heartbeat interval: Duration, metrics: GatewayMetrics?) {
        self.interval = interval
        self.metrics = metrics
    }

    /// The number of open streams.
    var count: Int {
        streams.withLock { $0.count }
    }

    /// Adds an open stream.
    func add(_ stream: EventStream) {
        streams.withLock { $0[ObjectIdentifier(stream)] = stream }
    }

    /// Removes a finished stream.
    func remove(_ stream: EventStream) {
        _ = streams.withLock { $0.removeValue(forKey: ObjectIdentifier(stream)) }
    }

    /// Starts the heartbeat thread; idempotent.
    func start() {
        thread.start { [self] in
            for stream in streams.withLock({ Array($0.values) }) {
                stream.heartbeat()
            }
            return .untilWokenOrAfter(interval)
        }
    }

    /// Stops the heartbeat thread and waits for it to end; idempotent.
    func stop() {
        thread.stop()
    }
}
