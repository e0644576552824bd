package import CoreMetrics
package import Keyspace
package import Logging
package import MicroHTTPD
import Plumbing

/// A running Keygate: a keyspace (the built-in engine, or another store the executable
/// chooses), and the HTTP API over it.
package final class KeygateServer: Sendable {
    /// The port the API listens on.
    package let port: Int
    private let builtIn: KeyspaceEngine?
    private let store: any ServedKeyspace
    private let gateway: any GatewayLifecycle
    /// The HTTP server, which `reload()` reaches too.
    let http: HTTPServer
    /// Where `reload()` tells what it did.
    let logger: Logger
    private let deadlines: DeadlineQueue

    private init(
        port: Int, builtIn: KeyspaceEngine?, store: any ServedKeyspace, gateway: any GatewayLifecycle,
        http: HTTPServer, deadlines: DeadlineQueue, logger: Logger
    ) {
        self.port = port
        self.builtIn = builtIn
        self.store = store
        self.gateway = gateway
        self.http = http
        self.deadlines = deadlines
        self.logger = logger
    }

    /// The built-in keyspace behind the API; only for a server started on it.
    package var keyspace: KeyspaceEngine {
        guard let builtIn else {
            preconditionFailure("this server runs on another store than the built-in engine")
        }
        return builtIn
    }

    /// Who may do what, which `reload()` reads again; `nil` when access control is off.
    var accessControl: AccessControl? {
        gateway.accessControl
    }

    /// The certificate new TLS handshakes present; `nil` when serving plain HTTP.
    package var certificate: TLSCertificate.Summary? {
        http.certificate
    }

    /// Starts the built-in keyspace and the API; returns once listening.
    ///
    /// - Parameters:
    ///   - clock: the keyspace's clock. With a `ManualClock` the expirer is not started: time
    ///     only moves when the test says so, and `keyspace.expireDueKeys()` stands in for it.
    ///     The events' notifier runs in both cases.
    package static func start(
        configuration: Configuration, clock: any KeyspaceClock = SystemClock(), logger: Logger
    ) throws -> KeygateServer {
        try configuration.checkProtectedMode()
        let metrics =
            configuration.gateway.isMetricsEnabled
            ? GatewayMetrics(routeLabels: Gateway<KeyspaceEngine>.routeLabels) : nil
        let keyspace = try openKeyspace(configuration, clock: clock, metrics: metrics, logger: logger)
        return try serve(
            keyspace, builtIn: keyspace, configuration: configuration, metrics: metrics,
            expiring: !(clock is ManualClock), logger: logger
        ) { gateway in
            BuiltInGateway(gateway: gateway)
        }
    }

    /// Starts the API over a store that `open` makes (given the metrics factory to count
    /// through); returns once listening. The store serves from its `startServing`.
    package static func start<Store: ServedKeyspace>(
        configuration: Configuration, logger: Logger, opening open: (any MetricsFactory) throws -> Store
    ) throws -> KeygateServer {
        try configuration.checkProtectedMode()
        let metrics =
            configuration.gateway.isMetricsEnabled
            ? GatewayMetrics(routeLabels: Gateway<Store>.routeLabels) : nil
        let store = try open(metrics?.factory ?? NOOPMetricsHandler.instance)
        return try serve(
            store, builtIn: nil, configuration: configuration, metrics: metrics, expiring: true,
            logger: logger
        ) { gateway in
            gateway
        }
    }

    /// The API over `store`, its HTTP server answering through the handler `makeHandler` makes
    /// of the gateway (a concrete one for the built-in engine, so that calls are specialized).
    private static func serve<Store: ServedKeyspace, Handler: HTTPHandler>(
        _ store: Store, builtIn: KeyspaceEngine?, configuration: Configuration, metrics: GatewayMetrics?,
        expiring: Bool, logger: Logger, handler makeHandler: (Gateway<Store>) -> Handler
    ) throws -> KeygateServer {
        // The deadlines of parked requests and of waiting operations, one source for both.
        let deadlines = DeadlineQueue(name: "keygate-timers")
        // A failed start must unlock the data directory, for a retry in the same process.
        var isStarted = false
        defer {
            if !isStarted {
                deadlines.stop()
                store.stopServing()
            }
        }
        let accessControl = try configuration.gateway.tokenFile.map { file throws(TokenFile.Failure) in
            try AccessControl(
                tokenFile: file, ticketLifetime: configuration.gateway.ticketLifetime, metrics: metrics)
        }
        let gateway = Gateway(
            store: store, configuration: configuration.gateway, deadlines: deadlines, metrics: metrics,
            accessControl: accessControl, logger: logger)
        let http = try HTTPServer.start(
            configuration: configuration.http, handler: makeHandler(gateway), deadlines: deadlines,
            logger: logger)
        metrics?.readLevels { [weak http, weak gateway] in
            var levels = GatewayMetrics.Levels()
            if let http {
                levels.openConnections = http.openConnectionCount
                levels.webSockets = http.upgradedSocketCount
            }
            gateway?.store.readLevels(into: &levels)
            return levels
        }
        store.startServing(expiring: expiring)
        gateway.start()
        isStarted = true
        return KeygateServer(
            port: http.port, builtIn: builtIn, store: store, gateway: gateway, http: http,
            deadlines: deadlines,
            logger: logger)
    }

    /// Stops gracefully: parked requests are answered and event streams ended, then
    /// connections closed; idempotent.
    package func stop() {
        gateway.beginStopping()
        http.stop()
        gateway.stop()
        deadlines.stop()
        store.stopServing()
    }
}

/// What the server does with its gateway besides answering requests, whatever its store.
private protocol GatewayLifecycle: Sendable {
    var accessControl: AccessControl? { get }
    func beginStopping()
    func stop()
}

extension Gateway: GatewayLifecycle {}

/// The keyspace, in memory or loaded from its data directory, saying what it loaded.
private func openKeyspace(
    _ configuration: KeygateServer.Configuration, clock: any KeyspaceClock, metrics: GatewayMetrics?,
    logger: Logger
) throws -> KeyspaceEngine {
    let factory: any MetricsFactory = metrics?.factory ?? NOOPMetricsHandler.instance
    let keyspace = try KeyspaceEngine.open(configuration.keyspace, clock: clock, metrics: factory)
    if let recovery = keyspace.recovery, let persistence = configuration.keyspace.persistence {
        for warning in recovery.warnings {
            logger.warning("\(warning)")
        }
        logger.notice(
            "Keyspace loaded",
            metadata: [
                "directory": "\(persistence.directory)", "fsync": "\(persistence.fsync.rawValue)",
                "keys": "\(keyspace.count)", "snapshot_keys": "\(recovery.snapshotKeys)",
                "log_records": "\(recovery.logRecords)", "expired_while_down": "\(recovery.expiredKeys)",
                "evicted_over_limit": "\(recovery.evictedKeys)",
                "duration_ms": "\(Int(recovery.duration / .milliseconds(1)))",
            ])
    }
    return keyspace
}

/// The gateway over the built-in engine, as a concrete type: calls through it are specialized
/// for `KeyspaceEngine` instead of going through generic witness lookups on every request.
private struct BuiltInGateway: HTTPHandler {
    let gateway: Gateway<KeyspaceEngine>

    func answer(_ request: HTTPRequest) -> HTTPAnswer {
        gateway.answer(request)
    }

    func response(for error: HTTPError) -> HTTPResponse {
        gateway.response(for: error)
    }
}
