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

    /// The keyspace's memory: bytes held as the engine counts them, the limit (`null` for
    /// none), the eviction policy and the keys evicted since start-up.
    struct Memory: Encodable {
        let used: Int
        let limit: Int?
        let policy: String
        let evicted: UInt64

        private enum CodingKeys: String, CodingKey {
            case used, limit, policy, evicted
        }

        /// Writes `null` for no limit.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(used, forKey: .used)
            try container.encode(limit, forKey: .limit)
            try container.encode(policy, forKey: .policy)
            try container.encode(evicted, forKey: .evicted)
        }
    }

    let status: String
    let persistence: Persistence
    /// `nil` (absent) for a store whose data is not held in this process.
    let memory: Memory?

    init(_ status: PersistenceStatus?, memory: MemoryStatus?) {
        self.memory = memory.map {
            Memory(used: $0.used, limit: $0.limit, policy: $0.policy, evicted: $0.evicted)
        }
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
