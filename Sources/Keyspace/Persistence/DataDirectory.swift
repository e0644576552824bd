import DequeModule
import Plumbing

/// The files of a data directory, and the lock that keeps it to one server.
///
/// ```
/// LOCK                      flock(2)ed while a server uses the directory
/// snapshot.kgs              the keyspace when log N started (its header says N)
/// log-0000000N.kgl …        the changes since, one file per generation, oldest first
/// receipts.key              the key that signs lease receipts, readable by the owner only
/// ```
/// A compaction starts log N+1, writes `snapshot.kgs.tmp`, syncs it and renames it over
/// `snapshot.kgs`, then removes the logs before N+1: a crash at any point leaves a snapshot
/// and the logs that follow it.
final class DataDirectory: Sendable {
    /// The directory's path, as given.
    let path: String
    /// The locked `LOCK` file, until `unlock()`.
    private let lock: Mutex<SystemFile?>

    /// Creates the directory when missing and locks it; `.locked` when another server has it.
    init(path: String) throws(PersistenceError) {
        try SystemFile.makeDirectory(path)
        self.path = path
        lock = Mutex(try SystemFile.lock(path + "/LOCK", directory: path))
    }

    /// Lets another server use the directory; once this one has stopped writing to it.
    func unlock() {
        lock.withLock { $0 = nil }
    }

    /// The snapshot's path.
    var snapshotPath: String { path + "/snapshot.kgs" }

    /// Where a snapshot is written before it replaces the last one.
    var temporarySnapshotPath: String { snapshotPath + ".tmp" }

    /// The key that signs the receipts of leases: read from `receipts.key`, or made and kept
    /// there (readable by its owner only, synced with its name) the first time.
    func receiptKey() throws(PersistenceError) -> [UInt8] {
        let path = self.path + "/receipts.key"
        if try SystemFile.names(in: self.path).contains("receipts.key") {
            let key = try SystemFile.read(path)
            guard key.count == ReceiptSigner.keyLength else {
                throw .damaged(
                    file: path, offset: 0,
                    reason: "a receipt key is \(ReceiptSigner.keyLength) bytes, not \(key.count)")
            }
            return key
        }
        let key = ReceiptSigner.makeKey()
        let temporary = path + ".tmp"
        try SystemFile.remove(temporary)
        let file = try SystemFile.openForAppending(
            temporary, creating: true, exclusive: true, isPrivate: true)
        try file.write(key)
        try file.syncAll()
        try SystemFile.rename(temporary, to: path)
        try syncNames()
        return key
    }

    /// The path of log `generation`.
    func logPath(_ generation: UInt64) -> String {
        let digits = String(generation)
        return path + "/log-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".kgl"
    }

    /// The generations of the logs present, oldest first.
    func logGenerations() throws(PersistenceError) -> [UInt64] {
        try SystemFile.names(in: path).compactMap { name -> UInt64? in
            guard name.hasPrefix("log-"), name.hasSuffix(".kgl") else { return nil }
            return UInt64(name.dropFirst(4).dropLast(4))
        }.sorted()
    }

    /// Whether a snapshot is present.
    func hasSnapshot() throws(PersistenceError) -> Bool {
        try SystemFile.names(in: path).contains("snapshot.kgs")
    }

    /// Creates log `generation` holding only its header, synced with its name.
    func createLog(_ generation: UInt64, at now: Timestamp) throws(PersistenceError) -> (SystemFile, Int) {
        // A log no writer has moved to yet (its compaction failed, or start-up found its header
        // torn) holds no change, and is made anew.
        try SystemFile.remove(logPath(generation))
        let file = try SystemFile.openForUpdate(logPath(generation), creating: true, exclusive: true)
        let header = RecordFraming.frame { encoder in
            FileHeader(kind: .log, generation: generation, createdAt: now).encode(into: &encoder)
        }
        try file.write(header)
        try file.syncAll()
        try syncNames()
        return (file, header.count)
    }

    /// Writes `capture` as the snapshot that log `generation` follows, atomically: a crash
    /// leaves either the old snapshot or the new one. Returns the snapshot's size. O(n).
    func writeSnapshot(_ capture: KeyspaceCapture, generation: UInt64, at now: Timestamp)
        throws(PersistenceError)
        -> Int
    {
        try SystemFile.remove(temporarySnapshotPath)
        let file = try SystemFile.openForAppending(temporarySnapshotPath, creating: true, exclusive: true)
        var buffer: [UInt8] = []
        var size = 0
        func flush(ifOver limit: Int) throws(PersistenceError) {
            guard buffer.count > limit else { return }
            try file.write(buffer)
            size += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }
        RecordFraming.append(to: &buffer) { encoder in
            FileHeader(
                kind: .snapshot, generation: generation, lastVersion: capture.lastVersion,
                lastEventID: capture.lastEventID, createdAt: now
            ).encode(into: &encoder)
        }
        var keyCount = 0
        func append(_ entry: StoredValue) throws(PersistenceError) {
            keyCount += 1
            switch entry {
            case .string(let record):
                RecordFraming.append(to: &buffer) { encoder in
                    SnapshotRecord.string(
                        key: record.key, version: entry.version, deadline: entry.deadline,
                        value: record.payload
                    )
                    .encode(into: &encoder)
                }
            case .queue(let record):
                let queue = record.value
                RecordFraming.append(to: &buffer) { encoder in
                    SnapshotRecord.queue(
                        key: record.key, version: entry.version, deadline: entry.deadline,
                        messageCount: record.value.count
                    ).encode(into: &encoder)
                }
                for message in queue.visible {
                    RecordFraming.append(to: &buffer) {
                        SnapshotRecord.storedMessage(message, .visible).encode(into: &$0)
                    }
                    try flush(ifOver: 1 << 20)
                }
                for lease in queue.leases.values {
                    RecordFraming.append(to: &buffer) {
                        SnapshotRecord.storedMessage(
                            lease.message, .leased(number: lease.number, deadline: lease.deadline)
                        )
                        .encode(into: &$0)
                    }
                    try flush(ifOver: 1 << 20)
                }
                for delayed in queue.delayed.values {
                    RecordFraming.append(to: &buffer) {
                        SnapshotRecord.storedMessage(delayed.message, .delayed(until: delayed.until)).encode(
                            into: &$0)
                    }
                    try flush(ifOver: 1 << 20)
                }
            }
            try flush(ifOver: 1 << 20)
        }
        var failure: PersistenceError?
        capture.order.forEach(from: [], strictly: false, in: capture.entries) { index in
            do throws(PersistenceError) {
                try append(capture.entries[index])
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure {
            throw failure
        }
        for (key, policy) in capture.policies {
            RecordFraming.append(to: &buffer) {
                SnapshotRecord.policy(key: key, policy: policy).encode(into: &$0)
            }
            try flush(ifOver: 1 << 20)
        }
        RecordFraming.append(to: &buffer) { SnapshotRecord.end(keyCount: keyCount).encode(into: &$0) }
        try flush(ifOver: 0)
        try file.syncAll()
        try SystemFile.rename(temporarySnapshotPath, to: snapshotPath)
        try syncNames()
        return size
    }

    /// Removes the logs older than `generation`, which a snapshot has made useless.
    func removeLogs(before generation: UInt64) throws(PersistenceError) {
        for old in try logGenerations() where old < generation {
            try SystemFile.remove(logPath(old))
        }
    }

    /// Syncs the directory itself, so that created, renamed and removed names survive a crash.
    func syncNames() throws(PersistenceError) {
        try SystemFile.openDirectory(path).syncAll()
    }
}
