extension NATSEngine {
    /// Where the cluster is and how the keyspace is laid out on it, with production defaults;
    /// filled by the executable from `--nats-*` flags.
    package struct Configuration: Sendable {
        /// `nats://host:port` of one or more servers; the client learns the rest of the
        /// cluster from them. Default `nats://127.0.0.1:4222`.
        package var urls = ["nats://127.0.0.1:4222"]
        /// A credentials file (`.creds`) for a secured cluster. Default none.
        package var credentialsFile: String?
        /// A PEM file of the certificate authorities to trust; turns TLS on. Default none.
        package var trustedCertificates: String?
        /// Replicas of each stream; `nil` asks for 3 and takes 1 when the cluster has fewer
        /// than three servers. Default `nil`.
        package var replicas: Int?
        /// The prefix of the streams and subjects, so that several deployments share a
        /// cluster. Default `KEYGATE`.
        package var prefix = "KEYGATE"
        /// Events the event stream keeps, and each gateway with it. Default 100 000.
        package var eventHistory = 100_000
        /// How long one request to the cluster may take before the operation fails with a
        /// 503. Default 2 s.
        package var requestTimeout = Duration.seconds(2)
        /// The longest a pop may wait (the gateway's `--max-wait`): pull requests last that
        /// long. Default 60 s.
        package var maxWait = Duration.seconds(60)

        /// The largest value or message written (the gateway's `--max-body-bytes`), which the
        /// servers' `max_payload` should take. Default 8 MiB.
        package var maxValueBytes = 8 << 20

        /// A configuration with every default.
        package init() {}
    }
}
