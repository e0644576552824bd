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
        /// Events kept for subscribers that resume (`Last-Event-ID`) or fall behind. Default
        /// 100 000.
        package var eventHistory = KeyspaceEngine.defaultEventHistory
        /// Where the keyspace is kept across restarts; `nil` keeps it in memory only. Default
        /// `nil` here; the executable's default is `./keygate-data` with `everysec`.
        package var persistence: PersistenceConfiguration?

        /// A configuration with every default.
        package init() {}
    }
}
