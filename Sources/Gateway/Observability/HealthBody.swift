import Keyspace

/// The body of `/healthz`: `ok`, or `degraded` while changes are refused because the log
/// cannot be written; and what persistence is doing.
struct HealthBody: Encodable {
    /// The state of persistence; times are Unix milliseconds, as in events.
    struct Persistence: Encodable {
        let enabled: Bool
        var directory: String?
        var fsync: String?
        var logBytes: Int?
        var liveBytes: Int?
        var lastFsync: Int64?
        var lastSnapshot: Int64?
        var snapshotBytes: Int?
        var compacting: Bool?
        var compactions: Int?
        var error: String?
        var compactionError: String?

        private enum CodingKeys: String, CodingKey {
            case enabled, directory, fsync, logBytes, liveBytes, lastFsync, lastSnapshot, snapshotBytes
            case compacting, compactions, error, compactionError
        }

        /// Writes `null` for an absent time or error of an enabled persistence, and only
        /// `enabled` when it is off.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(enabled, forKey: .enabled)
            guard enabled else { return }
            try container.encode(directory, forKey: .directory)
            try container.encode(fsync, forKey: .fsync)
            try container.encode(logBytes, forKey: .logBytes)
            try container.encode(liveBytes, forKey: .liveBytes)
            try container.encode(lastFsync, forKey: .lastFsync)
            try container.encode(lastSnapshot, forKey: .lastSnapshot)
            try container.encode(snapshotBytes, forKey: .snapshotBytes)
            try container.encode(compacting, forKey: .compacting)
            try container.encode(compactions, forKey: .compactions)
            try container.encode(error, forKey: .error)
            try container.encode(compactionError, forKey: .compactionError)
        }
    }

    let status: String
    let persistence: Persistence

    init(_ status: PersistenceStatus?) {
        guard let status else {
            self.status = "ok"
            persistence = Persistence(enabled: false)
            return
        }
        self.status = status.failure == nil ? "ok" : "degraded"
        persistence = Persistence(
            enabled: true, directory: status.directory, fsync: status.fsync.rawValue,
            logBytes: status.logBytes,
            liveBytes: status.liveBytes, lastFsync: status.lastSync?.milliseconds,
            lastSnapshot: status.lastSnapshot?.milliseconds, snapshotBytes: status.snapshotBytes,
            compacting: status.isCompacting, compactions: status.compactions, error: status.failure,
            compactionError: status.compactionFailure)
    }
}
