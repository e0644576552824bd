import ArgumentParser
import Gateway
import Glibc
import Logging
import MicroHTTPD
import NATSEngine

/// `keygate`: parses flags, starts the server, reads what may change again on SIGHUP, and stops
/// gracefully on SIGINT or SIGTERM. `keygate tokens add` makes a token instead.
@main
struct KeygateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygate",
        abstract: "An HTTP gateway to a live keyspace: cache, TTLs, expiry.",
        discussion: """
            Every option can also be set through the environment variable named in its help; \
            a flag wins over the variable. SIGHUP reads the token file again.
            """,
        subcommands: [TokensCommand.self])

    @OptionGroup var options: Options

    mutating func run() throws {
        // Before anything starts a thread.
        let signals = ProcessSignals()
        let launch = try LaunchConfiguration(options: options, environment: .current)
        let configuration = launch.server
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = launch.logLevel
            return handler
        }
        let logger = Logger(label: "keygate")
        FileDescriptorLimit.raise(toAtLeast: configuration.http.acceptedConnections + 64, logger: logger)

        signal(SIGPIPE, SIG_IGN)

        let server: KeygateServer
        do {
            switch launch.engine {
            case .builtin:
                server = try KeygateServer.start(configuration: configuration, logger: logger)
            case .nats:
                server = try KeygateServer.start(configuration: configuration, logger: logger) { metrics in
                    try NATSEngine(configuration: launch.nats, logger: logger, metrics: metrics)
                }
            }
        } catch {
            logger.critical("Keygate could not start: \(error)")
            throw ExitCode.failure
        }
        let scheme = configuration.http.tls == nil ? "http" : "https"
        if let certificate = server.certificate {
            logger.notice(
                "TLS certificate loaded",
                metadata: [
                    "subject": "\(certificate.subject)", "serial": "\(certificate.serialNumber)",
                    "expires": "\(certificate.expiryText)", "chain": "\(certificate.chainLength)",
                ])
        }
        logger.notice(
            "Keygate listening",
            metadata: [
                "address": "\(scheme)://\(configuration.http.host):\(server.port)",
                "threads": "\(configuration.http.threads)",
                "loops": "\(configuration.http.loopCount)",
                "engine": "\(launch.engine.rawValue)",
            ])
        signals.waitForTermination { server.reload() }
        logger.notice("Stopping")
        server.stop()
        logger.notice("Stopped")
    }
}
