import CoreMetrics
package import Keyspace
package import Logging
package import MicroHTTPD
import Plumbing

/// A running Keygate: the built-in keyspace, its expirer, and the HTTP API over it.
package final class KeygateServer: Sendable {
    /// The port the API listens on.
    package let port: Int
    /// The keyspace behind the API.
    package let keyspace: KeyspaceEngine
    private let gateway: Gateway<KeyspaceEngine>
    /// The HTTP server, which `reload()` reaches too.
    let http: HTTPServer
    /// Where `reload()` tells what it did.
    let logger: Logger
    private let deadlines: DeadlineQueue

    private init(
        port: Int, keyspace: KeyspaceEngine, gateway: Gateway<KeyspaceEngine>, http: HTTPServer,
        deadlines: DeadlineQueue, logger: Logger
    ) {
        self.port = port
        self.keyspace = keyspace
        self.gateway = gateway
        self.http = http
        self.deadlines = deadlines
        self.logger = logger
    }

    /// Who may do what, which `reload()` reads again; `nil` when access control is off.
    var accessControl: AccessControl? {
        gateway.accessControl
    }

    /// The certificate new TLS handshakes present; `nil` when serving plain HTTP.
    package var certificate: TLSCertificate.Summary? {
        http.certificate
    }

    /// Starts the keyspace and the API; returns once listening.
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
        // The deadlines of parked requests and of waiting operations, one source for both.
        let deadlines = DeadlineQueue(name: "keygate-timers")
        // A failed start must unlock the data directory, for a retry in the same process.
        var isStarted = false
        defer {
            if !isStarted {
                deadlines.stop()
                keyspace.stop()
            }
        }
        let accessControl = try configuration.gateway.tokenFile.map { file throws(TokenFile.Failure) in
            try AccessControl(
                tokenFile: file, ticketLifetime: configuration.gateway.ticketLifetime, metrics: metrics)
        }
        let gateway = Gateway(
            store: keyspace, configuration: configuration.gateway, deadlines: deadlines, metrics: metrics,
            accessControl: accessControl, logger: logger)
        let http = try HTTPServer.start(
            configuration: configuration.http, handler: BuiltInGateway(gateway: gateway),
            deadlines: deadlines,
            logger: logger)
        metrics?.readLevels { [weak http, weak keyspace] in
            var levels = GatewayMetrics.Levels()
            if let http {
                levels.openConnections = http.openConnectionCount
                levels.webSockets = http.upgradedSocketCount
            }
            if let keyspace {
                levels.waitingConsumers = keyspace.waitingCount
                levels.queues = keyspace.queueCount
                levels.messages = keyspace.messageCounts
                levels.strings = keyspace.count - levels.queues
                levels.lastEventID = keyspace.lastEventID
                if let memory = keyspace.memoryStatus {
                    levels.memoryUsed = memory.used
                    levels.memoryLimit = memory.limit
                    levels.evictedKeys = memory.evicted
                }
            }
            return levels
        }
        keyspace.start(expiring: !(clock is ManualClock))
        gateway.start()
        isStarted = true
        return KeygateServer(
            port: http.port, keyspace: keyspace, gateway: gateway, http: http, deadlines: deadlines,
            logger: logger)
    }

    /// Stops gracefully: parked requests are answered and event streams ended, then
    /// connections closed; idempotent.
    package func stop() {
        gateway.beginStopping()
        http.stop()
        gateway.stop()
        deadlines.stop()
        keyspace.stop()
    }
}

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
