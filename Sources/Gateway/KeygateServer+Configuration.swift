package import Keyspace
import MicroHTTPD

extension KeygateServer {
    /// Everything an operator can set, with production defaults; the executable fills it from
    /// flags and `KEYGATE_*` variables.
    package struct Configuration: Sendable {
        /// The address to listen on. Default `127.0.0.1`: loopback until asked otherwise.
        package var host = HTTPServer.Configuration().host
        /// The TCP port; 0 picks a free one. Default 8080.
        package var port = HTTPServer.Configuration().port
        /// libmicrohttpd worker threads. Default: the number of cores.
        package var threads = HTTPServer.Configuration().threads
        /// The largest request body. Default 8 MiB.
        package var maxBodyBytes = HTTPServer.Configuration().maxBodyBytes
        /// Open connections served at most, parked long-polls included; past it, a 503 with
        /// `Retry-After`. Default 16 384.
        package var maxConnections = HTTPServer.Configuration().maxConnections
        /// Open connections served per client address; past it, a 503 too. Default 1024.
        package var maxConnectionsPerAddress = HTTPServer.Configuration().maxConnectionsPerAddress
        /// A connection idle this long is closed. Default 60 s.
        package var idleTimeout = HTTPServer.Configuration().idleTimeout
        /// How long a request may take to arrive whole; a late one gets a 408. Default 30 s.
        package var readTimeout = HTTPServer.Configuration().readTimeout
        /// The longest request target; a longer one gets a 414. Default 8 KiB.
        package var maxURLBytes = HTTPServer.Configuration().maxURLBytes
        /// Pending connections the kernel queues before they are accepted. Default 1024.
        package var listenBacklog = HTTPServer.Configuration().listenBacklog
        /// The longest key, 1 to 1024 bytes (the engine's most); longer ones get a 400. Default
        /// 1024.
        package var maxKeyBytes = Key.maxLength
        /// The largest request line and header fields; larger ones get a 431. Default 8 KiB.
        package var maxHeaderBytes = HTTPServer.Configuration().maxHeaderBytes
        /// The longest a pop may wait for a message (`wait`). Default 60 s.
        package var maxWait = Duration.seconds(60)
        /// Consumers one queue may have waiting, REST and WebSocket pops together; more get a
        /// 503 with `Retry-After`. Default 10 000.
        package var maxWaitingPerQueue = Gateway<KeyspaceEngine>.defaultMaxWaitingPerQueue
        /// Events kept for subscribers that resume (`Last-Event-ID`) or fall behind. Default 100 000.
        package var eventHistory = KeyspaceEngine.defaultEventHistory
        /// How often an idle event stream gets a comment, to keep proxies and dead clients
        /// honest. Default 15 s.
        package var heartbeat = Duration.seconds(15)
        /// WebSocket sessions: message size, pings, per-socket limits.
        package var webSocket = WebSocketSettings()
        /// Bytes a WebSocket client may leave unread before sends to it are refused and it is
        /// closed with 1008. Default 256 KiB.
        package var webSocketSendBufferBytes = HTTPServer.Configuration().maxUpgradeBufferedBytes
        /// The folder served at `/`. Default `./public`.
        package var publicDirectory = "./public"
        /// The contract served at `/openapi.yaml`. Default `./openapi.yaml`.
        package var openAPIFile = "./openapi.yaml"
        /// Origins whose pages may call the API (`*` for any). Default none: same origin only.
        package var corsOrigins: [String] = []
        /// How long browsers may cache a CORS preflight's answer. Default 600 s.
        package var corsMaxAge = Duration.seconds(600)
        /// Whether requests and the keyspace are measured and `/metrics` serves them. Default on.
        package var isMetricsEnabled = true
        /// Where the keyspace is kept across restarts; `nil` keeps it in memory only. Default
        /// `nil` here; the executable's default is `./keygate-data` with `everysec`.
        package var persistence: PersistenceConfiguration?
        /// Whether every request is logged, at `info` under the label `keygate.access`.
        /// Default off.
        package var isAccessLogEnabled = false

        /// A configuration with every default.
        package init() {}

        /// Open connections past which new ones are closed unanswered: the served ones and a
        /// few more let in to be answered a 503.
        package var acceptedConnections: Int {
            http.acceptedConnections
        }

        /// The HTTP layer's part.
        var http: HTTPServer.Configuration {
            var http = HTTPServer.Configuration()
            http.host = host
            http.port = port
            http.threads = threads
            http.maxBodyBytes = maxBodyBytes
            http.maxConnections = maxConnections
            http.maxConnectionsPerAddress = maxConnectionsPerAddress
            http.idleTimeout = idleTimeout
            http.readTimeout = readTimeout
            http.maxURLBytes = maxURLBytes
            http.maxHeaderBytes = maxHeaderBytes
            http.listenBacklog = listenBacklog
            http.maxUpgradeBufferedBytes = webSocketSendBufferBytes
            return http
        }
    }
}
