import Plumbing

import struct Synchronization.Atomic

/// The append-only log as the engine writes it: records copied into the mapped log file under
/// the keyspace's lock, synced by a thread of its own.
///
/// A record is in the system's page cache as soon as it is appended, before the change is
/// answered, so a crash of the process loses no acknowledged change, and appending costs no
/// system call. Syncing is group commit: with `always`, callers wait (asynchronously, through
/// `whenDurable`) for the syncer, whose every `fdatasync` covers all that was appended before
/// it began. No thread but the syncer's and the compactor's waits for the disk, but a writer
/// that finds no room left in the log, when the syncer has not grown it in time.
///
/// Locks nest keyspace → `log`; `syncing` and `compaction` are taken alone.
final class Journal: Sendable {
    /// A log created ahead of a compaction, which the writers move to at a point of the
    /// keyspace's choosing.
    struct NextLog: Sendable {
        /// The log's file, holding its header.
        let file: SystemFile
        /// Its generation.
        let generation: UInt64
        /// The size of its header.
        let size: Int
    }

    /// The log being appended to, and what is owed to it.
    private struct Log {
        var current: LogMapping
        /// Logs the writers left for a newer one, maybe not yet synced.
        var retired: [SystemFile] = []
        /// The sequence number of the last record appended.
        var sequence: UInt64 = 0
        /// The sequence number of the last record in the mapping; behind `sequence` only when
        /// records wait in `overflow`.
        var mappedSequence: UInt64 = 0
        /// Records that found no room, the disk being full; the syncer copies them in later.
        var overflow: [UInt8] = []
        /// Where records are encoded before they are copied: one buffer, reused.
        var scratch: [UInt8] = []
        /// The size of the logs before the current one, since the last snapshot.
        var earlierBytes: Int
        /// The keyspace's live bytes at the last append.
        var liveBytes = 0
        /// Why the last growth of the log failed; cleared once the overflow is copied in.
        var failure: PersistenceError?
    }

    /// How far the logs are synced, and who waits for it.
    private struct Syncing {
        var synced: UInt64 = 0
        var waiters: [(sequence: UInt64, completion: @Sendable (PersistenceError?) -> Void)] = []
        var lastSync: Timestamp?
        /// A sync that failed: after that the system may have dropped written pages, so nothing
        /// is acknowledged again until a restart redoes the log from the disk.
        var failure: PersistenceError?
    }

    /// The compactions' history.
    private struct Compaction {
        var isRunning = false
        var count = 0
        var lastSnapshot: Timestamp?
        var snapshotBytes = 0
        var failure: String?
        /// No compaction is tried again before this, after one failed.
        var notBefore = Timestamp(milliseconds: .min)
    }

    /// Where and how.
    let configuration: PersistenceConfiguration
    /// The directory of the logs and snapshot.
    let directory: DataDirectory
    private let clock: any KeyspaceClock
    private let log: Mutex<Log>
    private let syncing = Mutex(Syncing())
    private let compaction = Mutex(Compaction())
    private let isAccepting = Atomic<Bool>(true)
    private let isRunning = Atomic<Bool>(false)
    private let syncer = WorkerThread(name: "keygate-fsync")
    private let compactor = WorkerThread(name: "keygate-compactor")

    /// Goes on appending to `file`, log `generation` whose first `size` bytes are records,
    /// after the records redone on start-up; `earlierBytes` are the logs before it since the
    /// snapshot, of `snapshotBytes`.
    init(
        configuration: PersistenceConfiguration, directory: DataDirectory, file: SystemFile,
        generation: UInt64,
        size: Int, earlierBytes: Int, snapshotBytes: Int, clock: any KeyspaceClock
    ) throws(PersistenceError) {
        self.configuration = configuration
        self.directory = directory
        self.clock = clock
        let mapping = try LogMapping(file: file, generation: generation, used: size)
        log = Mutex(Log(current: mapping, earlierBytes: earlierBytes))
        compaction.withLock { $0.snapshotBytes = snapshotBytes }
    }

    /// Whether changes are taken: `false` while the log cannot grow, and after a failed sync.
    var isAcceptingChanges: Bool {
        isAccepting.load(ordering: .relaxed)
    }

    /// Why changes are refused, when they are.
    var failure: PersistenceError? {
        syncing.withLock { $0.failure } ?? log.withLock { $0.failure }
    }

    /// Appends a record; O(size of the record). Called under the keyspace's lock, which
    /// orders the records as the changes. Grows the log when it is full, and keeps the record
    /// for the syncer when it cannot (`checkAppended()` then fails).
    func append(_ record: JournalRecord, liveBytes: Int) {
        log.withLock { log in
            log.sequence += 1
            log.liveBytes = liveBytes
            log.scratch.removeAll(keepingCapacity: true)
            RecordFraming.append(to: &log.scratch) { record.encode(into: &$0) }
            if log.overflow.isEmpty {
                if log.current.append(log.scratch) {
                    log.mappedSequence = log.sequence
                    return
                }
                do throws(PersistenceError) {
                    try log.current.grow(fitting: log.scratch.count)
                    guard log.current.append(log.scratch) else {
                        throw .unavailable(reason: "the log could not be mapped again")
                    }
                    log.mappedSequence = log.sequence
                    return
                } catch {
                    log.failure = error
                    isAccepting.store(false, ordering: .relaxed)
                }
            }
            log.overflow.append(contentsOf: log.scratch)
        }
    }

    /// Makes the records appended from now on go to `next`. Called under the keyspace's lock,
    /// at the instant a snapshot captures the keyspace.
    func rotate(to next: NextLog) throws(PersistenceError) {
        try log.withLock { log throws(PersistenceError) in
            if let failure = log.failure { throw failure }
            let mapping = try LogMapping(file: next.file, generation: next.generation, used: next.size)
            log.retired.append(log.current.file)
            log.earlierBytes += log.current.used
            log.current = mapping
        }
    }

    /// Checks that every record appended so far is in the log, and wakes the compactor when
    /// the log has outgrown the live data; called once the keyspace's lock is released. Fails
    /// while records wait for room.
    func checkAppended() throws(PersistenceError) {
        try log.withLock { log throws(PersistenceError) in
            if log.mappedSequence < log.sequence, let failure = log.failure { throw failure }
        }
        if isCompactionDue {
            // Wake-ups coalesce: writers wake the compactor once, not once each, and it checks
            // again whether a compaction is due before starting one.
            compactor.wake()
        }
    }

    /// What to wait for before acknowledging the changes made so far; `nil` unless the policy
    /// is `always` and they are not yet synced.
    func pendingDurability() -> DurabilityTicket? {
        guard configuration.fsync == .always else { return nil }
        let sequence = log.withLock { $0.sequence }
        let synced = syncing.withLock { $0.synced }
        return sequence > synced ? DurabilityTicket(sequence: sequence) : nil
    }

    /// Calls `completion` once the records of `ticket` are synced, with `nil`, or with the
    /// failure that keeps them from ever being; from the syncer's thread, or at once.
    func whenDurable(
        _ ticket: DurabilityTicket, _ completion: @escaping @Sendable (PersistenceError?) -> Void
    ) {
        let outcome: PersistenceError?? = syncing.withLock { syncing in
            if let failure = syncing.failure { return .some(failure) }
            if syncing.synced >= ticket.sequence { return .some(nil) }
            // Once stopped, no syncer would ever complete it. Read under the lock, which the
            // syncer takes to fail the last waiters after it has seen the stop.
            guard isRunning.load(ordering: .acquiring) else {
                return .some(.unavailable(reason: "the server is stopping"))
            }
            syncing.waiters.append((ticket.sequence, completion))
            return .none
        }
        if let outcome {
            completion(outcome)
        } else {
            syncer.wake()
        }
    }

    /// Starts the syncer and the compactor; `compact` runs on the compactor's thread when the
    /// log has outgrown the live data. The threads keep the journal alive until `stop()`.
    func start(compact: @escaping @Sendable () -> Void) {
        guard !isRunning.exchange(true, ordering: .acquiringAndReleasing) else { return }
        syncer.start { [self] in
            // Woken by each waiter with `always`; once a second in any case, to sync with
            // `everysec`, to grow the log ahead of the writers, and to copy in what found no
            // room.
            growAhead()
            if configuration.fsync != .no {
                sync()
            }
            return .untilWokenOrAfter(.seconds(1))
        }
        compactor.start { [self] in
            // Writes may have asked while the last compaction ran, for logs it replaced.
            if isCompactionDue {
                compact()
            }
            return .untilWoken
        }
    }

    /// Waits for a running compaction, syncs what is left and stops the threads, then cuts
    /// off the room allocated after the last record; idempotent.
    func stop() {
        if isRunning.exchange(false, ordering: .acquiringAndReleasing) {
            compactor.stop()
            syncer.stop()
            // The syncer's last round, on this thread: what was appended since it last ran.
            growAhead()
            sync()
            failWaiters(with: failure ?? .unavailable(reason: "the server stopped"))
        }
        log.withLock { log in
            // Only the zeros after the last record go; a failure leaves them, which start-up
            // reads as the end anyway.
            try? log.current.trim()
        }
    }

    /// Creates the log the next compaction moves the writers to.
    func makeNextLog() throws(PersistenceError) -> NextLog {
        let generation = log.withLock { $0.current.generation } + 1
        let (file, size) = try directory.createLog(generation, at: clock.now())
        // The first room of the log, allocated here rather than under the keyspace's lock.
        try file.allocate(size: LogMapping.initialCapacity)
        return NextLog(file: file, generation: generation, size: size)
    }

    /// Marks a compaction as running; `false` when one already is or one failed lately.
    func beginCompaction() -> Bool {
        let now = clock.now()
        return compaction.withLock { compaction in
            guard !compaction.isRunning, now >= compaction.notBefore else { return false }
            compaction.isRunning = true
            return true
        }
    }

    /// Records a snapshot written for log `generation` and the older logs removed.
    func finishCompaction(snapshotBytes: Int, generation: UInt64) {
        let now = clock.now()
        log.withLock { log in
            if log.current.generation == generation {
                log.earlierBytes = 0
            }
        }
        compaction.withLock { compaction in
            compaction.isRunning = false
            compaction.count += 1
            compaction.lastSnapshot = now
            compaction.snapshotBytes = snapshotBytes
            compaction.failure = nil
        }
    }

    /// Records a compaction that failed; the next is tried no sooner than 30 s later.
    func failCompaction(_ error: PersistenceError) {
        let now = clock.now()
        compaction.withLock { compaction in
            compaction.isRunning = false
            compaction.failure = error.description
            compaction.notBefore = now + .seconds(30)
        }
    }

    /// The state of the logs, syncs and compactions; the keyspace adds its live bytes.
    var status: PersistenceStatus {
        var status = PersistenceStatus(directory: directory.path, fsync: configuration.fsync)
        log.withLock { log in
            status.logBytes = log.earlierBytes + log.current.used
        }
        syncing.withLock { syncing in
            status.lastSync = syncing.lastSync
        }
        compaction.withLock { compaction in
            status.isCompacting = compaction.isRunning
            status.compactions = compaction.count
            status.lastSnapshot = compaction.lastSnapshot
            status.snapshotBytes = compaction.snapshotBytes
            status.compactionFailure = compaction.failure
        }
        status.failure = failure?.description
        return status
    }

    /// Whether the logs have outgrown the live data enough for a compaction.
    private var isCompactionDue: Bool {
        let (logBytes, liveBytes) = log.withLock { ($0.earlierBytes + $0.current.used, $0.liveBytes) }
        return logBytes >= configuration.compactionMinimumBytes
            && Double(logBytes) > configuration.compactionRatio * Double(liveBytes)
    }

    /// Allocates more room when the log runs low, off the writers' path (only the new mapping
    /// is made under the lock); then copies in records that found none.
    private func growAhead() {
        let (file, capacity) = log.withLock { log in
            let current = log.current
            let isDue = current.isRunningLow || !log.overflow.isEmpty
            return isDue
                ? (current.file, current.nextCapacity(fitting: current.spare + log.overflow.count + 1))
                : (nil, 0)
        }
        guard let file else { return }
        let allocated: PersistenceError?
        do {
            try file.allocate(size: capacity)
            allocated = nil
        } catch {
            allocated = error
        }
        let isRecovered = log.withLock { log -> Bool in
            guard log.current.file === file else { return false }
            if let allocated {
                if !log.overflow.isEmpty {
                    log.failure = allocated
                }
                return false
            }
            do throws(PersistenceError) {
                try log.current.remap(to: capacity)
            } catch {
                log.failure = error
                return false
            }
            guard !log.overflow.isEmpty else { return false }
            guard log.current.append(log.overflow) else { return false }
            log.overflow = []
            log.mappedSequence = log.sequence
            log.failure = nil
            return true
        }
        if isRecovered {
            isAccepting.store(syncing.withLock { $0.failure } == nil, ordering: .relaxed)
        }
    }

    /// Syncs every log appended to since the last sync, then completes the waiters it covers.
    private func sync() {
        let (target, targets) = log.withLock { log in (log.mappedSequence, log.retired + [log.current.file]) }
        guard target > syncing.withLock({ $0.synced }), syncing.withLock({ $0.failure }) == nil else {
            return
        }
        do {
            for file in targets {
                try file.sync()
            }
        } catch {
            isAccepting.store(false, ordering: .relaxed)
            syncing.withLock { $0.failure = error }
            failWaiters(with: error)
            return
        }
        log.withLock { log in
            log.retired.removeAll { retired in targets.contains { $0 === retired } }
        }
        let now = clock.now()
        let done = syncing.withLock { syncing in
            syncing.synced = target
            syncing.lastSync = now
            let done = syncing.waiters.filter { $0.sequence <= target }
            syncing.waiters.removeAll { $0.sequence <= target }
            return done
        }
        for waiter in done {
            waiter.completion(nil)
        }
    }

    private func failWaiters(with error: PersistenceError) {
        let waiters = syncing.withLock { syncing in
            defer { syncing.waiters = [] }
            return syncing.waiters
        }
        for waiter in waiters {
            waiter.completion(error)
        }
    }
}
