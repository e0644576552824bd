import ArgumentParser
import Gateway
import Keyspace
import MicroHTTPD
import NATSEngine

extension Setting {
    // The HTTP server.

    /// `--host`.
    static let host = text("KEYGATE_HOST", \.server.http.host, "Address to listen on.")
    /// `--port`.
    static let port = integer(
        "KEYGATE_PORT", \.server.http.port, in: 0...65_535, "TCP port; 0 picks a free one.")
    /// `--threads`.
    static let threads = integer(
        "KEYGATE_THREADS", \.server.http.threads, in: 1...1024,
        "HTTP worker threads, and as many loops serving WebSockets (default: the number of cores).")
    /// `--max-body-bytes`.
    static let maxBodyBytes = integer(
        "KEYGATE_MAX_BODY_BYTES", \.server.http.maxBodyBytes, in: 0...(1 << 30),
        "Largest request body, in bytes.")
    /// `--max-connections`.
    static let maxConnections = integer(
        "KEYGATE_MAX_CONNECTIONS", \.server.http.maxConnections, in: 1...1_000_000,
        "Open connections served, parked pops included; more get a 503.")
    /// `--max-connections-per-ip`.
    static let maxConnectionsPerAddress = integer(
        "KEYGATE_MAX_CONNECTIONS_PER_IP", \.server.http.maxConnectionsPerAddress, in: 1...1_000_000,
        "Open connections served per client address; more get a 503.")
    /// `--listen-backlog`.
    static let listenBacklog = integer(
        "KEYGATE_LISTEN_BACKLOG", \.server.http.listenBacklog, in: 1...65_535,
        "Connections the kernel queues before they are accepted (capped by net.core.somaxconn).")
    /// `--idle-timeout`.
    static let idleTimeout = seconds(
        "KEYGATE_IDLE_TIMEOUT", \.server.http.idleTimeout, in: 1...86_400,
        "Seconds before an idle connection is closed.")
    /// `--read-timeout`.
    static let readTimeout = seconds(
        "KEYGATE_READ_TIMEOUT", \.server.http.readTimeout, in: 1...86_400,
        "Seconds a request may take to arrive whole, however slowly; a late one gets a 408.")
    /// `--max-header-bytes`.
    static let maxHeaderBytes = integer(
        "KEYGATE_MAX_HEADER_BYTES", \.server.http.maxHeaderBytes, in: 1024...(1 << 20),
        "Largest request line and header fields; larger get a 431.")
    /// `--max-url-bytes`, at most `--max-header-bytes` (checked once both are read).
    static let maxURLBytes = integer(
        "KEYGATE_MAX_URL_BYTES", \.server.http.maxURLBytes, in: 64...(1 << 20),
        "Longest request target (path and query), at most the head's; longer gets a 414.")
    /// `--tls-cert`, read again on SIGHUP.
    static let tlsCertificate = file(
        "KEYGATE_TLS_CERT", \.tlsCertificateFile,
        "PEM file of the TLS certificate, its chain after it; with --tls-key the port speaks HTTPS only (TLS 1.2 and 1.3). SIGHUP reloads both files."
    )
    /// `--tls-key`, read again on SIGHUP.
    static let tlsKey = file(
        "KEYGATE_TLS_KEY", \.tlsKeyFile, "PEM file of the TLS certificate's private key, unencrypted.")
    /// `--ws-send-buffer-bytes`.
    static let webSocketSendBufferBytes = integer(
        "KEYGATE_WS_SEND_BUFFER_BYTES", \.server.http.maxUpgradeBufferedBytes, in: 1024...(1 << 30),
        "Bytes a WebSocket client may leave unread before it is closed with 1008.")

    // The API.

    /// `--max-key-bytes`.
    static let maxKeyBytes = integer(
        "KEYGATE_MAX_KEY_BYTES", \.server.gateway.limits.maxKeyBytes, in: 1...1024,
        "Longest key, 1 to 1024 bytes.")
    /// `--max-wait`.
    static let maxWait = seconds(
        "KEYGATE_MAX_WAIT", \.server.gateway.limits.maxWait, in: 1...3600,
        "Longest a pop may wait for a message, in seconds.")
    /// `--max-waiting-per-queue`.
    static let maxWaitingPerQueue = integer(
        "KEYGATE_MAX_WAITING_PER_QUEUE", \.server.gateway.limits.maxWaitingPerQueue, in: 1...1_000_000,
        "Consumers one queue may have waiting; more get a 503.")
    /// `--heartbeat`.
    static let heartbeat = seconds(
        "KEYGATE_HEARTBEAT", \.server.gateway.heartbeat, in: 1...3600,
        "Seconds between heartbeats on an idle event stream.")
    /// `--ws-max-message-bytes`.
    static let webSocketMaxMessageBytes = integer(
        "KEYGATE_WS_MAX_MESSAGE_BYTES", \.server.gateway.webSocket.maxMessageBytes, in: 125...(1 << 30),
        "Largest WebSocket message a client may send.")
    /// `--ws-ping-interval`.
    static let webSocketPingInterval = seconds(
        "KEYGATE_WS_PING_INTERVAL", \.server.gateway.webSocket.pingInterval, in: 1...3600,
        "Seconds of silence before a WebSocket client is pinged, and then to answer.")
    /// `--public`.
    static let publicDirectory = text(
        "KEYGATE_PUBLIC", \.server.gateway.publicDirectory, "Folder of files served at /.")
    /// `--openapi`.
    static let openAPIFile = text(
        "KEYGATE_OPENAPI", \.server.gateway.openAPIFile, "The OpenAPI document served at /openapi.yaml.")
    /// `--cors-origin`, repeatable.
    static let corsOrigin = Setting(
        "KEYGATE_CORS_ORIGINS", flag: "cors-origin", kind: .repeatable,
        summary: """
            An origin (scheme://host[:port]) whose pages may call the API, or * for any; repeat for \
            more (the variable takes a comma-separated list).
            """,
        defaultText: "none: same origin only"
    ) { text, source, configuration in
        guard isOrigin(text) else {
            throw ValidationError(
                "\(source): '\(text)' is not an origin: use * or scheme://host[:port], such as https://app.example.com."
            )
        }
        configuration.server.gateway.cors.origins.append(text)
    }
    /// `--cors-max-age`.
    static let corsMaxAge = seconds(
        "KEYGATE_CORS_MAX_AGE", \.server.gateway.cors.maxAge, in: 0...86_400,
        "Seconds browsers may cache a CORS preflight's answer.")
    /// `--metrics` / `--no-metrics`.
    static let metrics = toggle(
        "KEYGATE_METRICS", \.server.gateway.isMetricsEnabled, isInvertible: true,
        "Measure requests and the keyspace, served at /metrics.")
    /// `--auth-tokens`.
    static let authTokens = file(
        "KEYGATE_AUTH_TOKENS", \.server.gateway.tokenFile,
        "The token file (see `keygate tokens add`): every request to /v1/* and /metrics then needs a token.")
    /// `--ticket-lifetime`.
    static let ticketLifetime = seconds(
        "KEYGATE_TICKET_LIFETIME", \.server.gateway.ticketLifetime, in: 1...3600,
        "Seconds a ticket (POST /v1/tickets) may be used, once.")
    /// `--allow-anonymous`.
    static let allowAnonymous = toggle(
        "KEYGATE_ALLOW_ANONYMOUS", \.server.gateway.isAnonymousAllowed,
        "Serve an address other than loopback without --auth-tokens (refused otherwise).")
    /// `--access-log`.
    static let accessLog = toggle(
        "KEYGATE_ACCESS_LOG", \.server.gateway.isAccessLogEnabled, "Log one line per request (never a value)."
    )

    // The keyspace.

    /// `--event-history`.
    static let eventHistory = integer(
        "KEYGATE_EVENT_HISTORY", \.server.keyspace.eventHistory, in: 1...100_000_000,
        "Events kept for subscribers that resume or fall behind.")
    /// `--max-memory`.
    static let maxMemory = size(
        "KEYGATE_MAX_MEMORY", \.server.keyspace.memoryLimit,
        "Most bytes the keys, values and queues may hold, as the engine counts them (README, Memory); a write needing more evicts by --eviction-policy. Bytes, or with K, M, G (powers of 1000) or KiB, MiB, GiB."
    )
    /// `--eviction-policy`.
    static let evictionPolicy = choice(
        "KEYGATE_EVICTION_POLICY", \.server.keyspace.evictionPolicy,
        "Which keys leave for room under --max-memory (queues never do); noeviction refuses the write with a 507."
    )
    /// `--memory-only`.
    static let memoryOnly = toggle(
        "KEYGATE_MEMORY_ONLY", \.isMemoryOnly, "Keep the keyspace in memory only: nothing survives a restart."
    )
    /// `--data-dir`.
    static let dataDirectory = text(
        "KEYGATE_DATA_DIR", \.persistence.directory, "Folder of the snapshot and log, created if missing.")
    /// `--fsync`.
    static let fsync = choice(
        "KEYGATE_FSYNC", \.persistence.fsync,
        "When the log is synced to disk: always (before each change is answered), everysec or no.")
    /// `--repair`, a flag only.
    static let repair = toggle(
        "", flag: "repair", \.persistence.repair,
        "Start even when a data file is damaged before its end, dropping everything from the damage on (kept in *.dropped files)."
    )
    /// `--compaction-ratio`.
    static let compactionRatio = number(
        "KEYGATE_COMPACTION_RATIO", \.persistence.compactionRatio, in: 1...1000,
        "Compact the log into a snapshot once it is this many times the live data…")
    /// `--compaction-min-bytes`.
    static let compactionMinBytes = integer(
        "KEYGATE_COMPACTION_MIN_BYTES", \.persistence.compactionMinimumBytes, in: 0...(1 << 40),
        "…and at least this many bytes.")

    // The engine.

    /// `--engine`.
    static let engine = choice(
        "KEYGATE_ENGINE", \.engine,
        "The keyspace: builtin (in this process, persisted to --data-dir) or nats (a NATS JetStream cluster, shared by every gateway on it)."
    )
    /// `--nats-url`, repeatable.
    static let natsURL = Setting(
        "KEYGATE_NATS_URLS", flag: "nats-url", kind: .repeatable,
        summary:
            "A server of the NATS cluster, nats://host:port (or tls://); repeat for more (the variable takes a comma-separated list).",
        defaultText: "nats://127.0.0.1:4222"
    ) { text, source, configuration in
        guard let colon = text.firstRange(of: "://"), ["nats", "tls"].contains(text[..<colon.lowerBound]),
            !text[colon.upperBound...].isEmpty
        else {
            throw ValidationError("\(source): '\(text)' is not a NATS server: use nats://host:port.")
        }
        configuration.natsURLs.append(text)
    }
    /// `--nats-creds`.
    static let natsCredentials = file(
        "KEYGATE_NATS_CREDS", \.nats.credentialsFile, "A NATS credentials file (.creds: JWT and NKey seed).")
    /// `--nats-tls-ca`.
    static let natsTrustedCertificates = file(
        "KEYGATE_NATS_TLS_CA", \.nats.trustedCertificates,
        "A PEM file of the certificate authorities to trust; connects to the cluster over TLS.")
    /// `--nats-replicas`.
    static let natsReplicas = Setting(
        "KEYGATE_NATS_REPLICAS", summary: "Replicas of each stream, 1 to 5.",
        defaultText: "3, or 1 on a cluster of fewer servers"
    ) { text, source, configuration in
        configuration.nats.replicas = try whole(text, source: source, in: 1...5)
    }
    /// `--nats-prefix`.
    static let natsPrefix = Setting(
        "KEYGATE_NATS_PREFIX",
        summary:
            "The prefix of the streams and subjects (letters, digits, - and _), so that several deployments share a cluster.",
        defaultText: "KEYGATE"
    ) { text, source, configuration in
        guard !text.isEmpty, text.utf8.count <= 32,
            text.unicodeScalars.allSatisfy({
                $0.isASCII
                    && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
            })
        else {
            throw ValidationError(
                "\(source): '\(text)' is not a prefix: use 1 to 32 letters, digits, - or _.")
        }
        configuration.nats.prefix = text
    }

    // The executable.

    /// `--log-level`.
    static let logLevel = choice("KEYGATE_LOG_LEVEL", \.logLevel, "The lowest level of the lines logged.")

    /// `*`, or an origin as browsers send it: `http` or `https`, `://`, a host and maybe a port,
    /// and nothing after.
    private static func isOrigin(_ text: String) -> Bool {
        if text == "*" { return true }
        guard let separator = text.firstRange(of: "://") else { return false }
        let scheme = text[..<separator.lowerBound].lowercased()
        let authority = text[separator.upperBound...]
        return (scheme == "http" || scheme == "https") && !authority.isEmpty
            && !authority.contains(where: { "/?#@ ".contains($0) })
    }
}
