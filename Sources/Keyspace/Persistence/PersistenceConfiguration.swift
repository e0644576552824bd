/// Where and how the keyspace keeps its data across restarts.
package struct PersistenceConfiguration: Sendable, Equatable {
    /// When the log is forced to disk, as Redis's `appendfsync`.
    package enum FsyncPolicy: String, Sendable, CaseIterable {
        /// Every change is synced before it is acknowledged; concurrent changes share a sync.
        case always
        /// Changes are written before they are acknowledged and synced once a second.
        case everysec
        /// Changes are written before they are acknowledged; the system syncs when it likes.
        case no
    }

    /// The data directory, created when missing.
    package var directory: String
    /// When the log is synced. Default `everysec`.
    package var fsync = FsyncPolicy.everysec
    /// Start even when a file is damaged before its end, dropping everything from the damage on.
    /// Default off: start-up stops and says where the damage is.
    package var repair = false
    /// The log is compacted into a snapshot once it exceeds this many times the live data…
    /// Default 2.
    package var compactionRatio = 2.0
    /// …and at least this many bytes. Default 64 MiB.
    package var compactionMinimumBytes = 64 << 20

    /// A configuration with the defaults, in `directory`.
    package init(directory: String) {
        self.directory = directory
    }
}
