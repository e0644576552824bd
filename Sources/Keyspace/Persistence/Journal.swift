import Dispatch
import Foundation
import Synchronization

/// The append-only log as the engine writes it: records appended under the keyspace's lock,
/// written to the file right after it by whichever thread gets there first, synced by a thread
/// of its own.
///
/// Writing is group writing: a thread that finds its records already written by another
/// returns at once, so one `write(2)` carries the records of every thread that waited. Syncing
/// is group commit: with `always`, callers wait (asynchronously, through `whenDurable`) for
/// the syncer, whose every `fdatasync` covers all that was written before it began. No thread
/// but the syncer's and the compactor's ever waits for the disk to sync.
///
/// Locks nest keyspace → `pending`, and `files` → `pending`; `syncing` and `compaction` are
/// taken alone.
final class Journal: Sendable {
    /// A log created ahead of a compaction, which the writers move to at a point of the
    /// keyspace's choosing.
    struct NextLog: Sendable {
        /// The open file.
        let file: SystemFile
        /// Its generation.
        let generation: UInt64
        /// The size of its header.
        let size: Int
    }

    /// Bytes appended and not yet written, in the order of the changes.
    private struct Pending {
        /// The records, split where the writers move to a new log; never empty.
        var segments: [Segment]
        /// The sequence number of the last record appended.
        var sequence: UInt64
        /// The keyspace's live bytes at the last append.
        var liveBytes: Int
    }

    /// Records bound for one log.
    private struct Segment {
        /// The log these bytes go to; `nil` for the one the previous segment went to.
        var next: NextLog?
        /// The framed records.
        var bytes: [UInt8] = []
        /// The sequence number of the last of them.
        var through: UInt64
    }

    /// The logs being written, and how far.
    private struct Files {
        var current: SystemFile
        var generation: UInt64
        /// Logs the writers left for a newer one, written but maybe not yet synced.
        var retired: [SystemFile] = []
        /// The sequence number of the last record written.
        var written: UInt64
        /// The size of the current log.
        var currentBytes: Int
        /// The size of the logs before the current one, since the last snapshot.
        var earlierBytes = 0
        /// A write that failed; cleared when the syncer manages to write the records again.
        var failure: PersistenceError?
        /// The buffer last written, emptied, for the appends after the next write: the writes
        /// take turns with two buffers instead of allocating one each time.
        var spare: [UInt8] = []
    }

    /// How far the logs are synced, and who waits for it.
    private struct Syncing {
        var synced: UInt64
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
    private let pending: Mutex<Pending>
    private let files: Mutex<Files>
    private let syncing: Mutex<Syncing>
    private let compaction = Mutex(Compaction())
    private let isAccepting = Atomic<Bool>(true)
    private let isRunning = Atomic<Bool>(false)
    private let syncerWakeup = DispatchSemaphore(value: 0)
    private let syncerFinished = DispatchSemaphore(value: 0)
    private let compactorWakeup = DispatchSemaphore(value: 0)
    private let compactorFinished = DispatchSemaphore(value: 0)

    /// Goes on writing `file`, log `generation` of `size` bytes, after the records redone on
    /// start-up; `snapshotBytes` is the size of the snapshot it follows.
    init(
        configuration: PersistenceConfiguration, directory: DataDirectory, file: SystemFile,
        generation: UInt64,
        size: Int, earlierBytes: Int, snapshotBytes: Int, clock: any KeyspaceClock
    ) {
        self.configuration = configuration
        self.directory = directory
        self.clock = clock
        pending = Mutex(Pending(segments: [Segment(through: 0)], sequence: 0, liveBytes: 0))
        files = Mutex(
            Files(
                current: file, generation: generation, written: 0, currentBytes: size,
                earlierBytes: earlierBytes))
        syncing = Mutex(Syncing(synced: 0))
        compaction.withLock { $0.snapshotBytes = snapshotBytes }
    }

    /// Whether changes are taken: `false` once the log could not be written or synced.
    var isAcceptingChanges: Bool {
        isAccepting.load(ordering: .relaxed)
    }

    /// Why changes are refused, when they are.
    var failure: PersistenceError? {
        syncing.withLock { $0.failure } ?? files.withLock { $0.failure }
    }

    /// Appends a record; O(size of the record). Called under the keyspace's lock, which
    /// orders the records as the changes.
    func append(_ record: JournalRecord, liveBytes: Int) {
        pending.withLock { pending in
            pending.sequence += 1
            let last = pending.segments.count - 1
            RecordFraming.append(to: &pending.segments[last].bytes) { record.encode(into: &$0) }
            pending.segments[last].through = pending.sequence
            pending.liveBytes = liveBytes
        }
    }

    /// Makes the records appended from now on go to `next`. Called under the keyspace's lock,
    /// at the instant a snapshot captures the keyspace.
    func rotate(to next: NextLog) {
        pending.withLock { pending in
            pending.segments.append(Segment(next: next, through: pending.sequence))
        }
    }

    /// Writes every record appended so far, this thread's and others', to the log; called
    /// once the keyspace's lock is released. Returns at once when another thread wrote them.
    func write() throws(PersistenceError) {
        let target = pending.withLock { $0.sequence }
        try write(through: target, retrying: false)
    }

    /// What to wait for before acknowledging the changes made so far; `nil` unless the policy
    /// is `always` and they are not yet synced.
    func pendingDurability() -> DurabilityTicket? {
        guard configuration.fsync == .always else { return nil }
        let sequence = pending.withLock { $0.sequence }
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
            syncerWakeup.signal()
        }
    }

    /// Starts the syncer and the compactor; `compact` runs on the compactor's thread when the
    /// log has outgrown the live data. The threads keep the journal alive until `stop()`.
    func start(compact: @escaping @Sendable () -> Void) {
        guard !isRunning.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let syncer = Thread { [self] in
            runSyncer()
            syncerFinished.signal()
        }
        syncer.name = "keygate-fsync"
        syncer.start()
        let compactor = Thread { [self] in
            while true {
                compactorWakeup.wait()
                guard isRunning.load(ordering: .acquiring) else { break }
                compact()
            }
            compactorFinished.signal()
        }
        compactor.name = "keygate-compactor"
        compactor.start()
    }

    /// Waits for a running compaction, writes and syncs what is left, and stops the threads;
    /// idempotent.
    func stop() {
        guard isRunning.exchange(false, ordering: .acquiringAndReleasing) else { return }
        compactorWakeup.signal()
        compactorFinished.wait()
        syncerWakeup.signal()
        syncerFinished.wait()
    }

    /// Creates the log the next compaction moves the writers to.
    func makeNextLog() throws(PersistenceError) -> NextLog {
        let generation = files.withLock { $0.generation } + 1
        let (file, size) = try directory.createLog(generation, at: clock.now())
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
        files.withLock { files in
            if files.generation == generation {
                files.earlierBytes = 0
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

    /// The state of the logs, syncs and compactions.
    var status: PersistenceStatus {
        var status = PersistenceStatus(directory: directory.path, fsync: configuration.fsync)
        files.withLock { files in
            status.logBytes = files.earlierBytes + files.currentBytes
        }
        status.liveBytes = pending.withLock { $0.liveBytes }
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

    /// Writes the records through `target`, unless another thread has. A failed write is cut
    /// back out of the file, its records are kept to be written again by the syncer, and
    /// changes are refused meanwhile.
    private func write(through target: UInt64, retrying: Bool) throws(PersistenceError) {
        let isCompactionDue = try files.withLock { files throws(PersistenceError) -> Bool in
            try write(through: target, retrying: retrying, files: &files)
        }
        if isCompactionDue {
            compactorWakeup.signal()
        }
    }

    /// `write(through:retrying:)` under the `files` lock; returns whether the logs have grown
    /// enough for a compaction.
    private func write(through target: UInt64, retrying: Bool, files: inout Files) throws(PersistenceError)
        -> Bool
    {
        guard files.written < target else { return false }
        if let failure = files.failure, !retrying { throw failure }
        var spare: [UInt8] = []
        swap(&spare, &files.spare)
        var (segments, liveBytes) = pending.withLock { pending in
            var taken = [Segment(bytes: spare, through: pending.sequence)]
            swap(&taken, &pending.segments)
            return (taken, pending.liveBytes)
        }
        defer {
            // The first buffer comes back for reuse, unless a failure put it back in `pending`.
            if files.failure == nil, let first = segments.indices.first {
                swap(&files.spare, &segments[first].bytes)
                files.spare.removeAll(keepingCapacity: files.spare.capacity <= Self.largestSpare)
            }
        }
        for (index, segment) in segments.enumerated() {
            if let next = segment.next {
                files.retired.append(files.current)
                files.current = next.file
                files.generation = next.generation
                files.earlierBytes += files.currentBytes
                files.currentBytes = next.size
            }
            do {
                try files.current.write(segment.bytes)
            } catch {
                fail(writing: error, files: &files, unwritten: segments[index...])
                throw error
            }
            files.currentBytes += segment.bytes.count
            files.written = segment.through
        }
        if files.failure != nil {
            files.failure = nil
            isAccepting.store(syncing.withLock { $0.failure } == nil, ordering: .relaxed)
        }
        let logBytes = files.earlierBytes + files.currentBytes
        return logBytes >= configuration.compactionMinimumBytes
            && Double(logBytes) > configuration.compactionRatio * Double(liveBytes)
    }

    /// The largest buffer kept for reuse; a larger one, left by a burst, is freed.
    private static let largestSpare = 1 << 20

    private func fail(writing error: PersistenceError, files: inout Files, unwritten: ArraySlice<Segment>) {
        files.failure = error
        isAccepting.store(false, ordering: .relaxed)
        do {
            // Later records must not follow half of one.
            try files.current.truncate(to: files.currentBytes)
        } catch {
            syncing.withLock { $0.failure = error }
        }
        var kept = Array(unwritten)
        // The move to a new log, if this segment made one, has happened.
        kept[0].next = nil
        pending.withLock { pending in
            pending.segments = kept + pending.segments
        }
    }

    private func runSyncer() {
        while true {
            // Woken by each waiter with `always`; once a second in any case, to sync with
            // `everysec` and to write again what a failed write kept.
            _ = syncerWakeup.wait(timeout: .now() + .seconds(1))
            let isStopping = !isRunning.load(ordering: .acquiring)
            if files.withLock({ $0.failure != nil }) || isStopping {
                let target = pending.withLock { $0.sequence }
                // A failure stays recorded in `files`, for `/healthz` and the next try.
                try? write(through: target, retrying: true)
            }
            if configuration.fsync != .no || isStopping {
                sync()
            }
            if isStopping {
                failWaiters(with: failure ?? .unavailable(reason: "the server stopped"))
                return
            }
        }
    }

    /// Syncs every log written since the last sync, then completes the waiters it covers.
    private func sync() {
        let (target, targets) = files.withLock { files in (files.written, files.retired + [files.current]) }
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
        files.withLock { files in
            files.retired.removeAll { retired in targets.contains { $0 === retired } }
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
