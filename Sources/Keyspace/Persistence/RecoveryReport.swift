/// What start-up found in the data directory and did with it.
package struct RecoveryReport: Sendable, Equatable {
    /// The keys read from the snapshot.
    package var snapshotKeys = 0
    /// The changes redone from the logs.
    package var logRecords = 0
    /// The keys whose deadline had passed while the server was down, removed with an
    /// `expired` event.
    package var expiredKeys = 0
    /// The keys evicted after loading, since the data was over the memory limit.
    package var evictedKeys = 0
    /// What an operator must hear about: a torn last record cut off, damage dropped by
    /// `--repair`.
    package var warnings: [String] = []
    /// How long reading took.
    package var duration = Duration.zero
}
