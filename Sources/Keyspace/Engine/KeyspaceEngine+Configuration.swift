package import CoreMetrics

extension KeyspaceEngine {
    /// What the engine can be told, with production defaults; part of the server's
    /// configuration, handed down whole.
    package struct Configuration: Sendable {
        /// Events kept for subscribers that resume (`Last-Event-ID`) or fall behind. Default
        /// 100 000.
        package var eventHistory = KeyspaceEngine.defaultEventHistory
        /// Where the keyspace is kept across restarts; `nil` keeps it in memory only. Default `nil`.
        package var persistence: PersistenceConfiguration?
        /// The most bytes the keys may hold, as the engine counts them (README, "Memory");
        /// `nil` for no limit. Default `nil`.
        package var memoryLimit: Int?
        /// Which keys are evicted for room under `memoryLimit`. Default `allkeys-tinylfu`.
        package var evictionPolicy = EvictionPolicy.default

        /// A configuration with every default.
        package init() {}
    }

    /// The keyspace `configuration` describes: loaded from its data directory, or empty in
    /// memory only.
    package static func open(
        _ configuration: Configuration, clock: any KeyspaceClock = SystemClock(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws(PersistenceError) -> KeyspaceEngine {
        guard let persistence = configuration.persistence else {
            return KeyspaceEngine(
                clock: clock, eventHistory: configuration.eventHistory,
                memoryLimit: configuration.memoryLimit,
                evictionPolicy: configuration.evictionPolicy, metrics: metrics)
        }
        return try open(
            persistence: persistence, clock: clock, eventHistory: configuration.eventHistory,
            memoryLimit: configuration.memoryLimit, evictionPolicy: configuration.evictionPolicy,
            metrics: metrics
        )
    }
}
