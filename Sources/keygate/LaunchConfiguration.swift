import ArgumentParser
import Gateway
import Keyspace
import Logging
import MicroHTTPD
import NATSEngine

/// Everything the executable is told: the server's configuration, and what it decides before
/// the server starts (where to keep the data, how much to log).
struct LaunchConfiguration: Sendable {
    /// The server's configuration, handed to it whole.
    var server = KeygateServer.Configuration()
    /// Keep the keyspace in memory only: nothing survives a restart. Default off.
    var isMemoryOnly = false
    /// Where and how the keyspace is kept, unless memory only.
    var persistence = PersistenceConfiguration(directory: "./keygate-data")
    /// The lowest level of the lines logged. Default `info`.
    var logLevel = Logger.Level.info
    /// Which keyspace serves. Default the built-in one.
    var engine = Engine.builtin
    /// The NATS cluster and the keyspace's layout on it, for `engine` `nats`.
    var nats = NATSEngine.Configuration()
    /// The servers given with `--nats-url`; the default's when none.
    var natsURLs: [String] = []
    /// The TLS certificate's file, which takes the key's too. Default none: plain HTTP.
    var tlsCertificateFile: String?
    /// The TLS key's file, which takes the certificate's too.
    var tlsKeyFile: String?

    /// The keyspaces the executable can serve.
    enum Engine: String, CaseIterable, Sendable {
        /// The built-in engine, in this process.
        case builtin
        /// A NATS JetStream cluster.
        case nats
    }

    /// HTTP threads on a NATS cluster when `--threads` is not given: each operation holds its
    /// thread for its round trips to the cluster, so more threads keep more of them under way.
    /// The loops serving event streams and WebSockets stay one per core, whatever the threads.
    static let natsThreads = 64

    /// The configuration from flags, else `KEYGATE_*` variables, else the defaults.
    init(options: Options, environment: Environment) throws {
        for (setting, flag) in options.givenSettings {
            try setting.apply(flag: flag, environment: environment, to: &self)
        }
        try checkTargetFitsHead(
            isGiven: options.maxURLBytes != nil || environment[Setting.maxURLBytes.variable] != nil)
        server.keyspace.persistence = isMemoryOnly ? nil : persistence
        try pairTLSFiles()
        if engine == .nats {
            try checkNATS(options: options, environment: environment)
        }
    }

    /// On a NATS cluster: no data directory and no memory limit (the cluster keeps the data),
    /// more HTTP threads unless told, the cluster's servers, and the event history and longest
    /// wait the streams and pull requests follow.
    private mutating func checkNATS(options: Options, environment: Environment) throws {
        let local: [(Setting, Bool)] = [
            (.dataDirectory, options.dataDirectory != nil), (.fsync, options.fsync != nil),
            (.repair, options.repair),
            (.compactionRatio, options.compactionRatio != nil),
            (.compactionMinBytes, options.compactionMinBytes != nil),
            (.maxMemory, options.maxMemory != nil || environment[Setting.maxMemory.variable] != nil),
            (
                .evictionPolicy,
                options.evictionPolicy != nil || environment[Setting.evictionPolicy.variable] != nil
            ),
        ]
        for (setting, isGiven) in local where isGiven {
            throw ValidationError(
                "--\(setting.flag) is for the built-in engine; on a NATS cluster (--engine nats) the cluster keeps the data."
            )
        }
        server.keyspace.persistence = nil
        if options.threads == nil && environment[Setting.threads.variable] == nil {
            server.http.threads = Self.natsThreads
        }
        // Event streams and WebSockets on one loop per core whatever the threads: spread over
        // 64 loops, 1 000 streams cost 2.5 times the CPU per delivery, and were 5 times as late.
        server.http.loops = HTTPServer.Configuration.onlineCores
        if !natsURLs.isEmpty {
            nats.urls = natsURLs
        }
        nats.eventHistory = server.keyspace.eventHistory
        nats.maxWait = server.gateway.limits.maxWait
        nats.maxValueBytes = server.http.maxBodyBytes
    }

    /// A configuration with every default.
    init() {}

    /// HTTPS takes a certificate and its key: both files, or neither.
    private mutating func pairTLSFiles() throws {
        let certificateFlag = "--\(Setting.tlsCertificate.flag)"
        let keyFlag = "--\(Setting.tlsKey.flag)"
        switch (tlsCertificateFile, tlsKeyFile) {
        case (nil, nil):
            server.http.tls = nil
        case (let certificate?, let key?):
            server.http.tls = TLSConfiguration(certificateFile: certificate, keyFile: key)
        case (let certificate?, nil):
            throw ValidationError(
                "\(certificateFlag) '\(certificate)' needs \(keyFlag) too: HTTPS takes the certificate and its key."
            )
        case (nil, let key?):
            throw ValidationError(
                "\(keyFlag) '\(key)' needs \(certificateFlag) too: HTTPS takes the certificate and its key.")
        }
    }

    /// The request target is part of the head: its limit is at most the head's, and follows a
    /// smaller head limit when it was not given.
    private mutating func checkTargetFitsHead(isGiven: Bool) throws {
        let http = server.http
        guard http.maxURLBytes > http.maxHeaderBytes else { return }
        guard isGiven else {
            server.http.maxURLBytes = http.maxHeaderBytes
            return
        }
        throw ValidationError(
            "--\(Setting.maxURLBytes.flag) must be from 64 to --\(Setting.maxHeaderBytes.flag) "
                + "(\(http.maxHeaderBytes)); got \(http.maxURLBytes).")
    }
}
