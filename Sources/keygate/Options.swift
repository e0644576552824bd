import ArgumentParser

/// The command-line flags, each bound to its `Setting`, where everything about it is declared;
/// every option is read as text, so that a flag and its variable go through one parser.
struct Options: ParsableArguments {
    @Option(name: Setting.host.name, help: Setting.host.help) var host: String?
    @Option(name: Setting.port.name, help: Setting.port.help) var port: String?
    @Option(name: Setting.threads.name, help: Setting.threads.help) var threads: String?
    @Option(name: Setting.maxBodyBytes.name, help: Setting.maxBodyBytes.help) var maxBodyBytes: String?
    @Option(name: Setting.maxConnections.name, help: Setting.maxConnections.help) var maxConnections: String?
    @Option(name: Setting.maxConnectionsPerAddress.name, help: Setting.maxConnectionsPerAddress.help)
    var maxConnectionsPerAddress: String?
    @Option(name: Setting.listenBacklog.name, help: Setting.listenBacklog.help) var listenBacklog: String?
    @Option(name: Setting.idleTimeout.name, help: Setting.idleTimeout.help) var idleTimeout: String?
    @Option(name: Setting.readTimeout.name, help: Setting.readTimeout.help) var readTimeout: String?
    @Option(name: Setting.maxHeaderBytes.name, help: Setting.maxHeaderBytes.help) var maxHeaderBytes: String?
    @Option(name: Setting.maxURLBytes.name, help: Setting.maxURLBytes.help) var maxURLBytes: String?
    @Option(name: Setting.tlsCertificate.name, help: Setting.tlsCertificate.help) var tlsCertificate: String?
    @Option(name: Setting.tlsKey.name, help: Setting.tlsKey.help) var tlsKey: String?
    @Option(name: Setting.webSocketSendBufferBytes.name, help: Setting.webSocketSendBufferBytes.help)
    var webSocketSendBufferBytes: String?
    @Option(name: Setting.maxKeyBytes.name, help: Setting.maxKeyBytes.help) var maxKeyBytes: String?
    @Option(name: Setting.maxWait.name, help: Setting.maxWait.help) var maxWait: String?
    @Option(name: Setting.maxWaitingPerQueue.name, help: Setting.maxWaitingPerQueue.help)
    var maxWaitingPerQueue: String?
    @Option(name: Setting.heartbeat.name, help: Setting.heartbeat.help) var heartbeat: String?
    @Option(name: Setting.webSocketMaxMessageBytes.name, help: Setting.webSocketMaxMessageBytes.help)
    var webSocketMaxMessageBytes: String?
    @Option(name: Setting.webSocketPingInterval.name, help: Setting.webSocketPingInterval.help)
    var webSocketPingInterval: String?
    @Option(name: Setting.publicDirectory.name, help: Setting.publicDirectory.help) var publicDirectory:
        String?
    @Option(name: Setting.openAPIFile.name, help: Setting.openAPIFile.help) var openAPIFile: String?
    @Option(name: Setting.corsOrigin.name, help: Setting.corsOrigin.help) var corsOrigin: [String] = []
    @Option(name: Setting.corsMaxAge.name, help: Setting.corsMaxAge.help) var corsMaxAge: String?
    @Flag(name: Setting.metrics.name, inversion: .prefixedNo, help: Setting.metrics.help) var metrics: Bool?
    @Flag(name: Setting.accessLog.name, help: Setting.accessLog.help) var accessLog = false
    @Option(name: Setting.authTokens.name, help: Setting.authTokens.help) var authTokens: String?
    @Option(name: Setting.ticketLifetime.name, help: Setting.ticketLifetime.help) var ticketLifetime: String?
    @Flag(name: Setting.allowAnonymous.name, help: Setting.allowAnonymous.help) var allowAnonymous = false
    @Option(name: Setting.eventHistory.name, help: Setting.eventHistory.help) var eventHistory: String?
    @Option(name: Setting.maxMemory.name, help: Setting.maxMemory.help) var maxMemory: String?
    @Option(name: Setting.evictionPolicy.name, help: Setting.evictionPolicy.help) var evictionPolicy: String?
    @Flag(name: Setting.memoryOnly.name, help: Setting.memoryOnly.help) var memoryOnly = false
    @Option(name: Setting.dataDirectory.name, help: Setting.dataDirectory.help) var dataDirectory: String?
    @Option(name: Setting.fsync.name, help: Setting.fsync.help) var fsync: String?
    @Flag(name: Setting.repair.name, help: Setting.repair.help) var repair = false
    @Option(name: Setting.compactionRatio.name, help: Setting.compactionRatio.help) var compactionRatio:
        String?
    @Option(name: Setting.compactionMinBytes.name, help: Setting.compactionMinBytes.help)
    var compactionMinBytes: String?
    @Option(name: Setting.logLevel.name, help: Setting.logLevel.help) var logLevel: String?
    @Option(name: Setting.engine.name, help: Setting.engine.help) var engine: String?
    @Option(name: Setting.natsURL.name, help: Setting.natsURL.help) var natsURL: [String] = []
    @Option(name: Setting.natsCredentials.name, help: Setting.natsCredentials.help) var natsCredentials:
        String?
    @Option(name: Setting.natsTrustedCertificates.name, help: Setting.natsTrustedCertificates.help)
    var natsTrustedCertificates: String?
    @Option(name: Setting.natsReplicas.name, help: Setting.natsReplicas.help) var natsReplicas: String?
    @Option(name: Setting.natsPrefix.name, help: Setting.natsPrefix.help) var natsPrefix: String?

    /// Every setting with what its flag was given (empty when not given), in the order they
    /// apply.
    var givenSettings: [(Setting, [String])] {
        func given(_ value: String?) -> [String] { value.map { [$0] } ?? [] }
        func given(_ isOn: Bool) -> [String] { isOn ? [Setting.flagText(true)] : [] }
        return [
            (.host, given(host)), (.port, given(port)), (.threads, given(threads)),
            (.maxBodyBytes, given(maxBodyBytes)), (.maxConnections, given(maxConnections)),
            (.maxConnectionsPerAddress, given(maxConnectionsPerAddress)),
            (.listenBacklog, given(listenBacklog)),
            (.idleTimeout, given(idleTimeout)), (.readTimeout, given(readTimeout)),
            (.maxHeaderBytes, given(maxHeaderBytes)), (.maxURLBytes, given(maxURLBytes)),
            (.tlsCertificate, given(tlsCertificate)), (.tlsKey, given(tlsKey)),
            (.webSocketSendBufferBytes, given(webSocketSendBufferBytes)), (.maxKeyBytes, given(maxKeyBytes)),
            (.maxWait, given(maxWait)), (.maxWaitingPerQueue, given(maxWaitingPerQueue)),
            (.heartbeat, given(heartbeat)), (.webSocketMaxMessageBytes, given(webSocketMaxMessageBytes)),
            (.webSocketPingInterval, given(webSocketPingInterval)),
            (.publicDirectory, given(publicDirectory)),
            (.openAPIFile, given(openAPIFile)), (.corsOrigin, corsOrigin), (.corsMaxAge, given(corsMaxAge)),
            (.metrics, metrics.map { [Setting.flagText($0)] } ?? []), (.accessLog, given(accessLog)),
            (.authTokens, given(authTokens)), (.ticketLifetime, given(ticketLifetime)),
            (.allowAnonymous, given(allowAnonymous)),
            (.eventHistory, given(eventHistory)), (.maxMemory, given(maxMemory)),
            (.evictionPolicy, given(evictionPolicy)), (.memoryOnly, given(memoryOnly)),
            (.dataDirectory, given(dataDirectory)), (.fsync, given(fsync)), (.repair, given(repair)),
            (.compactionRatio, given(compactionRatio)), (.compactionMinBytes, given(compactionMinBytes)),
            (.logLevel, given(logLevel)),
            (.engine, given(engine)), (.natsURL, natsURL), (.natsCredentials, given(natsCredentials)),
            (.natsTrustedCertificates, given(natsTrustedCertificates)), (.natsReplicas, given(natsReplicas)),
            (.natsPrefix, given(natsPrefix)),
        ]
    }
}
