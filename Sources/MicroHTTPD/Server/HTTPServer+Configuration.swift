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
        /// Loops serving upgraded sockets (WebSockets) and streamed responses; `nil`, the
        /// default, as many as `threads`. Fewer when the workers are many because requests
        /// wait on their threads (a remote store's round trips): a stream's sends are spread
        /// over fewer threads, each waking once for all its streams.
        package var loops: Int?

        /// The loops serving upgraded sockets and streamed responses: `loops`, else `threads`.
        package var loopCount: Int {
            loops ?? threads
        }
        /// The largest request body accepted; a larger one gets a 413 and is not read.
        package var maxBodyBytes = 8 * 1024 * 1024
        /// Open connections served at most, parked ones included. A sixteenth more (at least
        /// 16) are let in only to get a 503 with `Retry-After` and be closed; past those, new
        /// connections are closed unanswered.
        package var maxConnections = 16_384
        /// Open connections served per client address, counted the same way.
        package var maxConnectionsPerAddress = 1024
        /// A connection idle (nothing read or written) this long is closed; parked ones are not.
        /// A stream's client that takes none of what waits for it this long is closed too.
        package var idleTimeout = Duration.seconds(60)
        /// How long a request's line, header fields and body may take to arrive, however
        /// slowly they trickle in; a late one gets a 408 and its connection is closed.
        package var readTimeout = Duration.seconds(30)
        /// The longest request target (path and query) read; a longer one gets a 414.
        package var maxURLBytes = 8 * 1024
        /// The largest request line and header fields read; larger ones get a 431.
        package var maxHeaderBytes = 8 * 1024
        /// How long `stop()` waits for requests in progress before closing every connection.
        package var shutdownGracePeriod = Duration.seconds(5)
        /// The most bytes an upgraded socket may have waiting for its client to read them before
        /// sends to it are refused (a WebSocket client that stops reading is then closed).
        package var maxUpgradeBufferedBytes = 256 * 1024
        /// How long a closing upgraded socket waits for its client to close its side.
        package var upgradeCloseTimeout = Duration.seconds(5)
        /// Whether the loops serving upgraded sockets also write streamed responses (server-sent
        /// events) once they first pause, rather than libmicrohttpd's threads, resumed for each
        /// piece; never on TLS connections. Default on: waking a stream then costs no resume and
        /// suspension of its connection, and its sends leave libmicrohttpd's threads to requests.
        package var writesStreamsOnLoops = true
        /// Pending connections the kernel queues before `accept` (capped by the system's
        /// `net.core.somaxconn`); a burst past it makes new clients retry their connect.
        package var listenBacklog = 1024
        /// The certificate and key to speak HTTPS with; `nil` (the default) for plain HTTP. With
        /// them the port speaks TLS 1.2 and 1.3 only.
        package var tls: TLSConfiguration?

        /// A configuration with every default.
        package init() {}

        /// Open connections past which libmicrohttpd closes new ones unanswered: the served
        /// ones and those let in to be told to come back.
        package var acceptedConnections: Int {
            maxConnections + Self.overflow(past: maxConnections)
        }

        /// Connections from one address past which new ones are closed at once, unanswered:
        /// a few more than are served, so that a client over its limit is told why.
        var acceptedConnectionsPerAddress: Int {
            maxConnectionsPerAddress + Self.overflow(past: maxConnectionsPerAddress)
        }

        /// The connections let in past `limit` to be answered a 503: a sixteenth, at least 16.
        private static func overflow(past limit: Int) -> Int {
            max(16, limit / 16)
        }

        /// Memory per connection (libmicrohttpd's pool): twice the header limit, so that a head
        /// past the limit is still read whole and answered with a problem (a head past the
        /// pool gets libmicrohttpd's own 431 or 414, in HTML), with room for the parsed fields
        /// and the response's head.
        var connectionMemoryBytes: Int {
            max(4096, 2 * maxHeaderBytes)
        }

        /// The number of online processors, at least 1.
        package static var onlineCores: Int {
            max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        }
    }
}
