package import Keyspace
package import MicroHTTPD

extension KeygateServer {
    /// Everything an operator can set, with production defaults, in one nested value per
    /// layer, each handed down whole; the executable fills it from flags and `KEYGATE_*`
    /// variables.
    package struct Configuration: Sendable {
        /// The HTTP server: address, threads, connections, timeouts, sizes.
        package var http = HTTPServer.Configuration()
        /// The API: limits, event streams, WebSockets, CORS, files, metrics, access log.
        package var gateway = GatewayConfiguration()
        /// The engine: its event history, and where it keeps its data (memory only by default
        /// here; the executable's default is `./keygate-data` with `everysec`).
        package var keyspace = KeyspaceEngine.Configuration()

        /// A configuration with every default.
        package init() {}
    }
}
