import Glibc

extension HTTPServer {
    /// How a server listens and what it accepts. Every default is safe for production.
    package struct Configuration: Sendable {
        /// The address to bind: a numeric IPv4 or IPv6 address or a host name.
        package var host = "127.0.0.1"
        /// The TCP port; 0 binds any free port, which `HTTPServer.port` then reports.
        package var port = 8080
        /// Worker threads, each with its own epoll loop; defaults to the number of cores.
        package var threads = Configuration.onlineCores
        /// The largest request body accepted; a larger one gets a 413 and is not read.
        package var maxBodyBytes = 8 * 1024 * 1024
        /// Open connections at most, parked ones included; more are refused at accept.
        package var maxConnections = 16_384
        /// A connection idle (nothing read or written) this long is closed; parked ones are not.
        package var idleTimeout = Duration.seconds(60)
        /// Memory per connection for the request line, headers and read-ahead (libmicrohttpd's
        /// pool): it bounds the header size.
        package var connectionMemoryBytes = 16 * 1024
        /// How long `stop()` waits for requests in progress before closing every connection.
        package var shutdownGracePeriod = Duration.seconds(5)
        /// The most bytes an upgraded socket may have waiting for its client to read them before
        /// sends to it are refused (a WebSocket client that stops reading is then closed).
        package var maxUpgradeBufferedBytes = 256 * 1024
        /// How long a closing upgraded socket waits for its client to close its side.
        package var upgradeCloseTimeout = Duration.seconds(5)
        /// Pending connections the kernel queues before `accept`.
        package var listenBacklog = 1024

        /// A configuration with every default.
        package init() {}

        /// The number of online processors, at least 1.
        package static var onlineCores: Int {
            max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        }
    }
}
