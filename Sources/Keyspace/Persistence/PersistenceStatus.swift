/// What persistence is doing, for `/healthz`.
package struct PersistenceStatus: Sendable, Equatable {
    /// The data directory.
    package var directory: String
    /// When the log is synced.
    package var fsync: PersistenceConfiguration.FsyncPolicy
    /// The bytes of the logs since the last snapshot.
    package var logBytes = 0
    /// The bytes of every key and value together.
    package var liveBytes = 0
    /// When the log was last synced; `nil` before the first sync.
    package var lastSync: Timestamp?
    /// When the last snapshot was written; `nil` before the first.
    package var lastSnapshot: Timestamp?
    /// The size of the last snapshot.
    package var snapshotBytes = 0
    /// Whether a compaction is running.
    package var isCompacting = false
    /// The compactions done since start-up.
    package var compactions = 0
    /// Why changes are refused, when they are: the log could not be written or synced.
    package var failure: String?
    /// Why the last compaction failed, if it did; it is tried again as the log grows.
    package var compactionFailure: String?

    /// A status with nothing done yet.
    package init(directory: String, fsync: PersistenceConfiguration.FsyncPolicy) {
        self.directory = directory
        self.fsync = fsync
    }
}
