import CMicroHTTPD
import Glibc
package import Logging
package import Plumbing

import struct Synchronization.Atomic

/// An HTTP/1.1 server on libmicrohttpd: epoll, a thread pool, and parked requests.
///
/// Requests are answered on libmicrohttpd's threads by the `HTTPHandler`; a handler that must
/// wait parks the request, which suspends its connection until it is answered.
package final class HTTPServer: Sendable {
    /// The TCP port the server is bound to (the actual one when configured with 0).
    package let port: Int

    private let dispatcher: RequestDispatcher
    private let acceptor: ConnectionAcceptor
    private let daemon: Mutex<OpaquePointer?>
    private let shutdownGracePeriod: Duration
    /// The deadline queue the server made itself, to stop with it; `nil` when given one.
    private let ownDeadlines: DeadlineQueue?
    private let logger: Logger

    private init(
        daemon: sending OpaquePointer, acceptor: ConnectionAcceptor, dispatcher: RequestDispatcher,
        ownDeadlines: DeadlineQueue?, shutdownGracePeriod: Duration, logger: Logger
    ) {
        self.daemon = Mutex(daemon)
        self.acceptor = acceptor
        port = acceptor.port
        self.dispatcher = dispatcher
        self.ownDeadlines = ownDeadlines
        self.shutdownGracePeriod = shutdownGracePeriod
        self.logger = logger
    }

    deinit {
        stop()
    }

    /// Binds and starts serving; returns once the socket is listening.
    ///
    /// - Parameter deadlines: where parked requests' deadlines are kept; the server starts it,
    ///   and whoever gave it stops it after the server. `nil`: the server keeps its own.
    package static func start(
        configuration: Configuration, handler: some HTTPHandler, deadlines given: DeadlineQueue? = nil,
        logger: Logger
    ) throws(HTTPServerError) -> HTTPServer {
        let deadlines = given ?? DeadlineQueue(name: "keygate-timers")
        let ownDeadlines = given == nil ? deadlines : nil
        let address = try SocketAddress(host: configuration.host, port: configuration.port)
        let credentials = try configuration.tls.map { tls throws(HTTPServerError) in
            try loadCredentials(tls)
        }
        let upgradeLoops = try UpgradeLoops(
            count: configuration.loopCount,
            maxBufferedBytes: configuration.maxUpgradeBufferedBytes,
            closeTimeout: configuration.upgradeCloseTimeout, stallTimeout: configuration.idleTimeout,
            logger: logger)
        let acceptor = try ConnectionAcceptor(
            address: address, backlog: configuration.listenBacklog, logger: logger)
        let dispatcher = RequestDispatcher(
            handler: handler, configuration: configuration, credentials: credentials,
            upgradeLoops: upgradeLoops, deadlines: deadlines, logger: logger)
        var flags =
            MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
            | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_ALLOW_UPGRADE.rawValue
            | MHD_USE_ERROR_LOG.rawValue | MHD_USE_NO_LISTEN_SOCKET.rawValue
        if address.isIPv6 {
            flags |= MHD_USE_IPv6.rawValue
        }
        if credentials != nil {
            flags |= MHD_USE_TLS.rawValue
        }
        // No address: the acceptor listens, and hands libmicrohttpd each connection.
        let settings = cmhd_daemon_settings(
            flags: flags,
            thread_pool_size: UInt32(clamping: configuration.threads),
            // The connection guard answers those past `maxConnections` with a 503.
            connection_limit: UInt32(clamping: configuration.acceptedConnections),
            // The guard counts per address itself, so that it can answer a 503 too.
            per_ip_connection_limit: 0,
            connection_timeout_seconds: UInt32(
                clamping: configuration.idleTimeout.components.seconds),
            connection_memory_limit: configuration.connectionMemoryBytes,
            // Set by `startDaemon` when the server speaks TLS.
            tls: nil)
        let daemon = startDaemon(settings: settings, dispatcher: dispatcher)
        guard let daemon else {
            throw HTTPServerError(
                function: "MHD_start_daemon", code: errno,
                detail: "Cannot start libmicrohttpd to serve \(configuration.host):\(configuration.port)")
        }
        deadlines.start()
        upgradeLoops.start()
        dispatcher.connections.start()
        acceptor.start(handingTo: daemon)
        return HTTPServer(
            daemon: daemon, acceptor: acceptor, dispatcher: dispatcher, ownDeadlines: ownDeadlines,
            shutdownGracePeriod: configuration.shutdownGracePeriod, logger: logger)
    }

    /// The certificate new TLS handshakes present; `nil` for a server of plain HTTP.
    package var certificate: TLSCertificate.Summary? {
        dispatcher.credentials?.certificate.summary
    }

    /// Reads the TLS certificate and key again from their files: new handshakes present the
    /// new pair, connections already open carry on with theirs. A pair that cannot be used
    /// leaves the current one in place, and the error says why. Returns the new certificate's
    /// summary, or `nil` for a server of plain HTTP. O(file sizes); any thread.
    package func reloadCertificate() throws(TLSError) -> TLSCertificate.Summary? {
        try dispatcher.credentials?.reload()
    }

    /// The connections open now, suspended ones included; 0 once stopping.
    package var openConnectionCount: Int {
        // Never waits: `stop()` holds the lock for its grace period, and this is read on
        // libmicrohttpd's threads (a scrape of the metrics).
        let count = daemon.withLockIfAvailable { daemon in
            daemon.map { Int(cmhd_daemon_connection_count($0)) }
        }
        return (count ?? nil) ?? 0
    }

    /// The upgraded (WebSocket) sockets open now.
    package var upgradedSocketCount: Int {
        dispatcher.upgradeLoops.upgradedCount
    }

    /// The credentials of `configuration`, when this libmicrohttpd can serve them.
    private static func loadCredentials(_ configuration: TLSConfiguration) throws(HTTPServerError)
        -> TLSCredentials
    {
        guard MHD_is_feature_supported(.FEATURE_TLS) == .YES,
            MHD_is_feature_supported(.FEATURE_HTTPS_CERT_CALLBACK) == .YES
        else {
            throw HTTPServerError(TLSError(file: configuration.certificateFile, reason: .unsupported))
        }
        do {
            return try TLSCredentials(configuration: configuration)
        } catch {
            throw HTTPServerError(error)
        }
    }

    /// Stops gracefully; idempotent.
    ///
    /// Stops accepting (new connections are refused) and closes any handed over meanwhile,
    /// answers every parked request with the handler's 503,
    /// asks every upgraded socket's handler to say goodbye, waits up to the grace period for
    /// requests in progress and upgraded sockets (over TLS, until libmicrohttpd has forwarded
    /// their goodbyes and closed their connections), then closes every connection.
    /// libmicrohttpd aborts the process if stopped with a connection suspended, so that is
    /// never done.
    package func stop() {
        daemon.withLock { daemon in
            guard let running = daemon else { return }
            daemon = nil
            acceptor.stop()
            dispatcher.beginStopping()
            let deadline = ContinuousClock.now + shutdownGracePeriod
            while ContinuousClock.now < deadline
                && (dispatcher.parkingLot.suspendedCount.load(ordering: .acquiring) > 0
                    || dispatcher.requestsInFlight.load(ordering: .acquiring) > 0
                    || dispatcher.upgradeLoops.openCount > 0
                    || dispatcher.connections.upgradedCount.load(ordering: .acquiring) > 0)
            {
                usleep(2_000)
            }
            // Upgraded connections are suspended inside libmicrohttpd until their socket is
            // given back: every one must be, before the daemon stops.
            dispatcher.upgradeLoops.stop()
            let stillSuspended = dispatcher.parkingLot.suspendedCount.load(ordering: .acquiring)
            guard stillSuspended == 0 else {
                logger.critical(
                    "Connections still suspended after the grace period; the daemon is left running",
                    metadata: ["suspended": "\(stillSuspended)"])
                return
            }
            MHD_stop_daemon(running)
            dispatcher.connections.stop()
            ownDeadlines?.stop()
        }
    }
}
