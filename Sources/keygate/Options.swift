import ArgumentParser
import Logging

/// The command-line flags; each has a `KEYGATE_*` environment variable, and a flag wins.
struct Options: ParsableArguments {
    @Option(help: "Address to listen on. [KEYGATE_HOST, default 127.0.0.1]")
    var host: String?

    @Option(help: "TCP port; 0 picks a free one. [KEYGATE_PORT, default 8080]")
    var port: Int?

    @Option(help: "HTTP worker threads. [KEYGATE_THREADS, default: the number of cores]")
    var threads: Int?

    @Option(help: "Largest request body, in bytes. [KEYGATE_MAX_BODY_BYTES, default 8388608]")
    var maxBodyBytes: Int?

    @Option(
        help: """
            Open connections served, parked pops included; more get a 503. \
            [KEYGATE_MAX_CONNECTIONS, default 16384]
            """)
    var maxConnections: Int?

    @Option(
        name: .customLong("max-connections-per-ip"),
        help: """
            Open connections served per client address; more get a 503. \
            [KEYGATE_MAX_CONNECTIONS_PER_IP, default 1024]
            """)
    var maxConnectionsPerAddress: Int?

    @Option(
        help: """
            Connections the kernel queues before they are accepted (capped by net.core.somaxconn). \
            [KEYGATE_LISTEN_BACKLOG, default 1024]
            """)
    var listenBacklog: Int?

    @Option(help: "Seconds before an idle connection is closed. [KEYGATE_IDLE_TIMEOUT, default 60]")
    var idleTimeout: Int?

    @Option(
        help: """
            Seconds a request may take to arrive whole, however slowly; a late one gets a 408. \
            [KEYGATE_READ_TIMEOUT, default 30]
            """)
    var readTimeout: Int?

    @Option(
        name: .customLong("max-url-bytes"),
        help:
            "Longest request target (path and query); longer gets a 414. [KEYGATE_MAX_URL_BYTES, default 8192]"
    )
    var maxURLBytes: Int?

    @Option(help: "Longest key, 1 to 1024 bytes. [KEYGATE_MAX_KEY_BYTES, default 1024]")
    var maxKeyBytes: Int?

    @Option(
        help: """
            Largest request line and header fields; larger get a 431. \
            [KEYGATE_MAX_HEADER_BYTES, default 8192]
            """)
    var maxHeaderBytes: Int?

    @Option(help: "Longest a pop may wait for a message, in seconds. [KEYGATE_MAX_WAIT, default 60]")
    var maxWait: Int?

    @Option(
        help: """
            Consumers one queue may have waiting; more get a 503. \
            [KEYGATE_MAX_WAITING_PER_QUEUE, default 10000]
            """)
    var maxWaitingPerQueue: Int?

    @Option(
        help:
            "Events kept for subscribers that resume or fall behind. [KEYGATE_EVENT_HISTORY, default 100000]")
    var eventHistory: Int?

    @Option(help: "Seconds between heartbeats on an idle event stream. [KEYGATE_HEARTBEAT, default 15]")
    var heartbeat: Int?

    @Option(
        name: .customLong("ws-max-message-bytes"),
        help: "Largest WebSocket message a client may send. [KEYGATE_WS_MAX_MESSAGE_BYTES, default 1048576]")
    var webSocketMaxMessageBytes: Int?

    @Option(
        name: .customLong("ws-send-buffer-bytes"),
        help: """
            Bytes a WebSocket client may leave unread before it is closed with 1008. \
            [KEYGATE_WS_SEND_BUFFER_BYTES, default 262144]
            """)
    var webSocketSendBufferBytes: Int?

    @Option(
        name: .customLong("ws-ping-interval"),
        help: """
            Seconds of silence before a WebSocket client is pinged, and then to answer. \
            [KEYGATE_WS_PING_INTERVAL, default 30]
            """)
    var webSocketPingInterval: Int?

    @Option(
        name: .customLong("public"),
        help: "Folder of files served at /. [KEYGATE_PUBLIC, default ./public]")
    var publicDirectory: String?

    @Option(
        name: .customLong("openapi"),
        help: "The OpenAPI document served at /openapi.yaml. [KEYGATE_OPENAPI, default ./openapi.yaml]")
    var openAPIFile: String?

    @Option(
        help: """
            An origin (scheme://host[:port]) whose pages may call the API, or * for any; repeat for \
            more. [KEYGATE_CORS_ORIGINS, comma-separated, default none: same origin only]
            """)
    var corsOrigin: [String] = []

    @Option(help: "Seconds browsers may cache a CORS preflight's answer. [KEYGATE_CORS_MAX_AGE, default 600]")
    var corsMaxAge: Int?

    @Option(
        help: "Folder of the snapshot and log, created if missing. [KEYGATE_DATA_DIR, default ./keygate-data]"
    )
    var dataDir: String?

    @Flag(
        help:
            "Keep the keyspace in memory only: nothing survives a restart. [KEYGATE_MEMORY_ONLY, default off]"
    )
    var memoryOnly = false

    @Option(
        help: """
            When the log is synced to disk: always (before each change is answered), everysec or             no. [KEYGATE_FSYNC, default everysec]
            """)
    var fsync: String?

    @Flag(
        help: """
            Start even when a data file is damaged before its end, dropping everything from the             damage on (kept in *.dropped files).
            """)
    var repair = false

    @Option(
        help: """
            Compact the log into a snapshot once it is this many times the live data…             [KEYGATE_COMPACTION_RATIO, default 2]
            """)
    var compactionRatio: Double?

    @Option(help: "…and at least this many bytes. [KEYGATE_COMPACTION_MIN_BYTES, default 67108864]")
    var compactionMinBytes: Int?

    @Flag(
        inversion: .prefixedNo,
        help: "Measure requests and the keyspace, served at /metrics. [KEYGATE_METRICS, default on]")
    var metrics: Bool?

    @Flag(help: "Log one line per request (never a value). [KEYGATE_ACCESS_LOG, default off]")
    var accessLog = false

    @Option(
        help: "trace, debug, info, notice, warning, error or critical. [KEYGATE_LOG_LEVEL, default info]")
    var logLevel: String?

    /// The log level from the flag, the variable, or `info`.
    func resolvedLogLevel(environment: Environment) throws -> Logger.Level {
        guard let text = logLevel ?? environment["KEYGATE_LOG_LEVEL"] else { return .info }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError(
                "'\(text)' is not a log level; use trace, debug, info, notice, warning, error or critical.")
        }
        return level
    }
}
