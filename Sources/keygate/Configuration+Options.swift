import ArgumentParser
import Gateway
import Keyspace

extension KeygateServer.Configuration {
    /// The configuration from flags, else `KEYGATE_*` variables, else the defaults.
    init(options: Options, environment: Environment) throws {
        self.init()
        let settings = Settings(environment: environment)
        host = try settings.value(options.host, variable: "KEYGATE_HOST", default: host) {
            $0.isEmpty ? nil : $0
        }
        port = try settings.integer(options.port, variable: "KEYGATE_PORT", in: 0...65_535, default: port)
        threads = try settings.integer(
            options.threads, variable: "KEYGATE_THREADS", in: 1...1024, default: threads)
        maxBodyBytes = try settings.integer(
            options.maxBodyBytes, variable: "KEYGATE_MAX_BODY_BYTES", in: 0...(1 << 30),
            default: maxBodyBytes)
        maxConnections = try settings.integer(
            options.maxConnections, variable: "KEYGATE_MAX_CONNECTIONS", in: 1...1_000_000,
            default: maxConnections)
        maxConnectionsPerAddress = try settings.integer(
            options.maxConnectionsPerAddress, variable: "KEYGATE_MAX_CONNECTIONS_PER_IP", in: 1...1_000_000,
            default: maxConnectionsPerAddress)
        listenBacklog = try settings.integer(
            options.listenBacklog, variable: "KEYGATE_LISTEN_BACKLOG", in: 1...65_535, default: listenBacklog)
        let idleSeconds = try settings.integer(
            options.idleTimeout, variable: "KEYGATE_IDLE_TIMEOUT", in: 1...86_400,
            default: Int(idleTimeout.components.seconds))
        idleTimeout = .seconds(idleSeconds)
        let readSeconds = try settings.integer(
            options.readTimeout, variable: "KEYGATE_READ_TIMEOUT", in: 1...86_400,
            default: Int(readTimeout.components.seconds))
        readTimeout = .seconds(readSeconds)
        maxKeyBytes = try settings.integer(
            options.maxKeyBytes, variable: "KEYGATE_MAX_KEY_BYTES", in: 1...Key.maxLength,
            default: maxKeyBytes)
        maxHeaderBytes = try settings.integer(
            options.maxHeaderBytes, variable: "KEYGATE_MAX_HEADER_BYTES", in: 1024...(1 << 20),
            default: maxHeaderBytes)
        maxURLBytes = try settings.integer(
            options.maxURLBytes, variable: "KEYGATE_MAX_URL_BYTES", in: 64...maxHeaderBytes,
            default: min(maxURLBytes, maxHeaderBytes))
        let waitSeconds = try settings.integer(
            options.maxWait, variable: "KEYGATE_MAX_WAIT", in: 1...3600,
            default: Int(maxWait.components.seconds))
        maxWait = .seconds(waitSeconds)
        maxWaitingPerQueue = try settings.integer(
            options.maxWaitingPerQueue, variable: "KEYGATE_MAX_WAITING_PER_QUEUE", in: 1...1_000_000,
            default: maxWaitingPerQueue)
        eventHistory = try settings.integer(
            options.eventHistory, variable: "KEYGATE_EVENT_HISTORY", in: 1...100_000_000,
            default: eventHistory)
        let heartbeatSeconds = try settings.integer(
            options.heartbeat, variable: "KEYGATE_HEARTBEAT", in: 1...3600,
            default: Int(heartbeat.components.seconds))
        heartbeat = .seconds(heartbeatSeconds)
        webSocket.maxMessageBytes = try settings.integer(
            options.webSocketMaxMessageBytes, variable: "KEYGATE_WS_MAX_MESSAGE_BYTES", in: 125...(1 << 30),
            default: webSocket.maxMessageBytes)
        webSocketSendBufferBytes = try settings.integer(
            options.webSocketSendBufferBytes, variable: "KEYGATE_WS_SEND_BUFFER_BYTES", in: 1024...(1 << 30),
            default: webSocketSendBufferBytes)
        let pingSeconds = try settings.integer(
            options.webSocketPingInterval, variable: "KEYGATE_WS_PING_INTERVAL", in: 1...3600,
            default: Int(webSocket.pingInterval.components.seconds))
        webSocket.pingInterval = .seconds(pingSeconds)
        publicDirectory = try settings.value(
            options.publicDirectory, variable: "KEYGATE_PUBLIC", default: publicDirectory
        ) { $0.isEmpty ? nil : $0 }
        openAPIFile = try settings.value(
            options.openAPIFile, variable: "KEYGATE_OPENAPI", default: openAPIFile
        ) { $0.isEmpty ? nil : $0 }
        corsOrigins = try settings.value(
            options.corsOrigin.isEmpty ? nil : options.corsOrigin, variable: "KEYGATE_CORS_ORIGINS",
            default: corsOrigins
        ) { $0.split(separator: ",").map { $0.trimmingPrefix(" ").description } }
        for origin in corsOrigins where !Self.isOrigin(origin) {
            throw ValidationError(
                "'\(origin)' is not an origin: use * or scheme://host[:port], such as https://app.example.com."
            )
        }
        let maxAgeSeconds = try settings.integer(
            options.corsMaxAge, variable: "KEYGATE_CORS_MAX_AGE", in: 0...86_400,
            default: Int(corsMaxAge.components.seconds))
        corsMaxAge = .seconds(maxAgeSeconds)
        isMetricsEnabled = try settings.value(
            options.metrics, variable: "KEYGATE_METRICS", default: isMetricsEnabled, parse: Self.boolean)
        isAccessLogEnabled = try settings.value(
            options.accessLog ? true : nil, variable: "KEYGATE_ACCESS_LOG", default: isAccessLogEnabled,
            parse: Self.boolean)
        persistence = try Self.persistence(options: options, settings: settings)
    }

    /// Persistence from its flags: on in `./keygate-data` with `everysec` unless memory only.
    private static func persistence(options: Options, settings: Settings) throws -> PersistenceConfiguration?
    {
        let isMemoryOnly = try settings.value(
            options.memoryOnly ? true : nil, variable: "KEYGATE_MEMORY_ONLY", default: false, parse: boolean)
        guard !isMemoryOnly else { return nil }
        let directory = try settings.value(
            options.dataDir, variable: "KEYGATE_DATA_DIR", default: "./keygate-data"
        ) { $0.isEmpty ? nil : $0 }
        var persistence = PersistenceConfiguration(directory: directory)
        let fsync = try settings.value(options.fsync, variable: "KEYGATE_FSYNC", default: "everysec") { $0 }
        guard let policy = PersistenceConfiguration.FsyncPolicy(rawValue: fsync.lowercased()) else {
            throw ValidationError("'\(fsync)' is not an fsync policy; use always, everysec or no.")
        }
        persistence.fsync = policy
        persistence.repair = options.repair
        persistence.compactionRatio = try settings.value(
            options.compactionRatio, variable: "KEYGATE_COMPACTION_RATIO",
            default: persistence.compactionRatio
        ) { Double($0) }
        guard persistence.compactionRatio >= 1, persistence.compactionRatio <= 1000 else {
            throw ValidationError(
                "The compaction ratio must be from 1 to 1000; got \(persistence.compactionRatio).")
        }
        persistence.compactionMinimumBytes = try settings.integer(
            options.compactionMinBytes, variable: "KEYGATE_COMPACTION_MIN_BYTES", in: 0...(1 << 40),
            default: persistence.compactionMinimumBytes)
        return persistence
    }

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

    /// `true`, `false`, `1`, `0`, `yes` or `no`, as a variable may say it.
    private static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": true
        case "false", "0", "no", "off": false
        default: nil
        }
    }
}

/// Reads one setting from its flag, else its variable, else its default, validating it.
private struct Settings {
    let environment: Environment

    func value<Value>(
        _ flag: Value?, variable: String, default defaultValue: Value,
        parse: (String) -> Value?
    ) throws -> Value {
        if let flag { return flag }
        guard let text = environment[variable] else { return defaultValue }
        guard let value = parse(text) else {
            throw ValidationError("\(variable)='\(text)' is not a valid value.")
        }
        return value
    }

    func integer(
        _ flag: Int?, variable: String, in range: ClosedRange<Int>, default defaultValue: Int
    ) throws -> Int {
        let value = try self.value(flag, variable: variable, default: defaultValue) { Int($0) }
        guard range.contains(value) else {
            let source =
                flag == nil
                ? variable
                : "--"
                    + variable.dropFirst("KEYGATE_".count)
                    .lowercased().replacing("_", with: "-")
            throw ValidationError(
                "\(source) must be from \(range.lowerBound) to \(range.upperBound); got \(value).")
        }
        return value
    }
}
