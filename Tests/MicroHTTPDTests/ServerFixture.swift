import Logging
import MicroHTTPD

/// Runs `body` against a server on a free port, and stops the server however `body` ends;
/// `configure` changes the configuration first.
func withServer(
    _ handler: EchoHandler = EchoHandler(), maxBodyBytes: Int? = nil,
    limits: (connections: Int, threads: Int, idleTimeout: Duration)? = nil,
    configure: (inout HTTPServer.Configuration) -> Void = { _ in },
    _ body: (HTTPServer, EchoHandler) throws -> Void
) throws {
    var configuration = HTTPServer.Configuration()
    configuration.port = 0
    if let maxBodyBytes {
        configuration.maxBodyBytes = maxBodyBytes
    }
    if let limits {
        configuration.maxConnections = limits.connections
        configuration.threads = limits.threads
        configuration.idleTimeout = limits.idleTimeout
    }
    configure(&configuration)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let server = try HTTPServer.start(configuration: configuration, handler: handler, logger: logger)
    defer { server.stop() }
    try body(server, handler)
}
