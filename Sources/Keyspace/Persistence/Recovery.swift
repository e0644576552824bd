/// Rebuilds the keyspace from a data directory: the snapshot, then every log after it.
///
/// A last record cut short by a crash is cut off with a warning. Any other damage stops
/// start-up with the file and offset, unless `repair` is set: then everything from the damage
/// on is dropped (and kept beside the file with the suffix `.dropped`), with a warning.
struct Recovery {
    /// Where writing goes on.
    struct Outcome {
        /// The generation of the log to append to.
        var generation: UInt64
        /// Its size once recovered; 0 when it must be created (with its header).
        var size = 0
        /// The size of the logs before it since the snapshot.
        var earlierBytes = 0
        /// The size of the snapshot.
        var snapshotBytes = 0
    }

    private let directory: DataDirectory
    private let repair: Bool
    /// When the load began: the eviction policy's first access of every key loaded.
    private let now: Timestamp
    /// What was read and done so far.
    private(set) var report = RecoveryReport()

    /// Prepares to read `directory`, at `now`.
    init(directory: DataDirectory, repair: Bool, now: Timestamp) {
        self.directory = directory
        self.repair = repair
        self.now = now
    }

    /// Loads the snapshot and redoes the logs into `state`; returns the log to go on with.
    /// O(size of the files).
    mutating func run(into state: inout KeyspaceState) throws(PersistenceError) -> Outcome {
        try SystemFile.remove(directory.temporarySnapshotPath)
        var generations = try directory.logGenerations()
        var nextGeneration: UInt64?
        var outcome = Outcome(generation: 1)
        if try directory.hasSnapshot() {
            let (generation, size) = try loadSnapshot(into: &state)
            nextGeneration = generation
            outcome = Outcome(generation: generation, snapshotBytes: size)
        }
        if let nextGeneration {
            try directory.removeLogs(before: nextGeneration)
            generations.removeAll { $0 < nextGeneration }
            if let first = generations.first, first != nextGeneration {
                try refuse(
                    "the snapshot is followed by log \(nextGeneration), but the first log is \(first)")
                try dropLogs(generations[...])
                generations = []
            }
        } else if let first = generations.first, first != 1 {
            try refuse("log \(first) is the first log, but there is no snapshot before it")
            try dropLogs(generations[...])
            generations = []
        }
        var previous: UInt64?
        for (index, generation) in generations.enumerated() {
            if let previous, generation != previous + 1 {
                try refuse("log \(generation) follows log \(previous)")
                try dropLogs(generations[index...])
                break
            }
            previous = generation
            var laterLogsHoldRecords = false
            for later in generations[(index + 1)...] where try holdsRecords(later) {
                laterLogsHoldRecords = true
            }
            let (size, isComplete) = try replayLog(
                generation, into: &state, mayBeTorn: !laterLogsHoldRecords)
            outcome.earlierBytes += outcome.size
            outcome.generation = generation
            outcome.size = size
            if !isComplete {
                try dropLogs(generations[(index + 1)...])
                break
            }
        }
        return outcome
    }

    /// Reads the snapshot into `state`; returns the generation of the log that follows it, and
    /// the snapshot's size.
    private mutating func loadSnapshot(into state: inout KeyspaceState) throws(PersistenceError)
        -> (generation: UInt64, size: Int)
    {
        let path = directory.snapshotPath
        let bytes = try SystemFile.read(path)
        var scanner = RecordScanner(bytes)
        guard let headerRange = scanner.next() else {
            try damaged(path, scanner: scanner, expected: "a snapshot header")
            return (1, 0)
        }
        var decoder = RecordDecoder(bytes, range: headerRange)
        let header: FileHeader
        do {
            header = try FileHeader(decoding: &decoder)
        } catch {
            throw .damaged(file: path, offset: 0, reason: error.reason)
        }
        guard header.kind == .snapshot else {
            throw .damaged(file: path, offset: 0, reason: "the file is not a snapshot")
        }
        state.restoreCounters(lastVersion: header.lastVersion, lastEventID: header.lastEventID)
        var keyCount = 0
        var queue: (key: Key, version: Version, deadline: Timestamp?, value: QueueValue, left: Int)?
        var isEnded = false
        reading: while !isEnded {
            let offset = scanner.offset
            guard let range = scanner.next() else {
                try damaged(path, scanner: scanner, expected: "the snapshot's end record")
                break reading
            }
            var decoder = RecordDecoder(bytes, range: range)
            let record: SnapshotRecord
            do {
                record = try SnapshotRecord(decoding: &decoder)
            } catch {
                try damaged(path, offset: offset, reason: error.reason, size: bytes.count)
                break reading
            }
            func addToQueue(_ add: (inout QueueValue) -> Void) {
                guard var current = queue else { return }
                add(&current.value)
                current.left -= 1
                queue = current
                if current.left == 0 {
                    state.restore(
                        current.key, queue: current.value, version: current.version,
                        deadline: current.deadline, now: now)
                    keyCount += 1
                    queue = nil
                }
            }
            switch (record, queue) {
            case (.message(let payload), _?):
                let id = state.nextNumber()
                addToQueue { value in
                    value.putInLine(
                        QueueMessage(
                            id: id, place: id, payload: payload, enqueuedAt: header.createdAt, attempts: 0))
                }
            case (.storedMessage(let message, let messageState), _?):
                state.noteVersion(max(message.id, message.place))
                addToQueue { value in
                    switch messageState {
                    case .visible:
                        value.putInLine(message)
                    case .leased(let number, let deadline):
                        value.addLease(QueueValue.Lease(message: message, number: number, deadline: deadline))
                    case .delayed(let until):
                        value.addDelayed(QueueValue.Delayed(message: message, until: until))
                    }
                }
                if case .leased(let number, _) = messageState {
                    state.noteVersion(number)
                }
            case (.string(let key, let version, let deadline, let value), nil):
                state.restore(key, string: value, version: version, deadline: deadline, now: now)
                keyCount += 1
            case (.queue(let key, let version, let deadline, let count), nil):
                queue = (key, version, deadline, QueueValue(), count)
            case (.policy(let key, let policy), nil):
                state.restorePolicy(policy, of: key)
            case (.end(let expected), nil):
                guard expected == keyCount else {
                    try damaged(
                        path, offset: offset,
                        reason: "the end record counts \(expected) keys, not \(keyCount)",
                        size: bytes.count)
                    break reading
                }
                isEnded = true
            default:
                try damaged(path, offset: offset, reason: "a record out of place", size: bytes.count)
                break reading
            }
        }
        if isEnded, scanner.offset < bytes.count {
            try damaged(
                path, offset: scanner.offset, reason: "bytes after the end record", size: bytes.count)
        }
        report.snapshotKeys = keyCount
        return (header.generation, bytes.count)
    }

    /// Redoes log `generation` into `state`; returns the size of the file once any damage was
    /// cut off, and whether it was read to its end without damage.
    private mutating func replayLog(_ generation: UInt64, into state: inout KeyspaceState, mayBeTorn: Bool)
        throws(PersistenceError) -> (size: Int, isComplete: Bool)
    {
        let path = directory.logPath(generation)
        let bytes = try SystemFile.read(path)
        var scanner = RecordScanner(bytes)
        var isHeaderRead = false
        var loggedSince = Timestamp(milliseconds: 0)
        while true {
            let offset = scanner.offset
            guard let range = scanner.next() else { break }
            var decoder = RecordDecoder(bytes, range: range)
            do throws(RecordDecoder.Malformed) {
                if isHeaderRead {
                    state.apply(try JournalRecord(decoding: &decoder), loggedSince: loggedSince, now: now)
                    report.logRecords += 1
                } else {
                    let header = try FileHeader(decoding: &decoder)
                    guard header.kind == .log, header.generation == generation else {
                        throw RecordDecoder.Malformed(reason: "the header is not that of log \(generation)")
                    }
                    loggedSince = header.createdAt
                    isHeaderRead = true
                }
            } catch {
                // The checksum held, so this is no torn write: the record itself is wrong.
                try cut(
                    path, bytes: bytes, at: offset, reason: error.reason, isTornTail: false,
                    mayBeTorn: mayBeTorn)
                return (offset, false)
            }
        }
        guard case .damaged(let offset, let reason, let isTornTail) = scanner.stop else {
            // The end, maybe followed by the room allocated ahead, which stays allocated.
            return (scanner.offset, true)
        }
        try cut(path, bytes: bytes, at: offset, reason: reason, isTornTail: isTornTail, mayBeTorn: mayBeTorn)
        return (offset, isTornTail && mayBeTorn)
    }

    /// Cuts a log at damage found at `offset`: silently but for a warning when it is the torn
    /// tail of the log written last, with `repair` otherwise; refuses when neither.
    private mutating func cut(
        _ path: String, bytes: [UInt8], at offset: Int, reason: String, isTornTail: Bool, mayBeTorn: Bool
    ) throws(PersistenceError) {
        if isTornTail && mayBeTorn {
            report.warnings.append(
                "\(path): cut off \(bytes.count - offset) bytes at byte \(offset), the last record "
                    + "written before a crash (\(reason))")
        } else {
            guard repair else { throw .damaged(file: path, offset: offset, reason: reason) }
            try keepDropped(Array(bytes[offset...]), of: path)
            report.warnings.append(
                "\(path): --repair dropped \(bytes.count - offset) bytes from byte \(offset) on "
                    + "(\(reason)); they are kept in \(path).dropped")
        }
        try SystemFile.truncate(path, to: offset)
    }

    /// Reports damage in the snapshot: refused, or with `repair` the rest of it is dropped.
    private mutating func damaged(_ path: String, scanner: RecordScanner, expected: String)
        throws(PersistenceError)
    {
        let reason: String
        if case .damaged(_, let why, _) = scanner.stop {
            reason = why
        } else {
            reason = "the file ends before \(expected)"
        }
        try damaged(path, offset: scanner.offset, reason: reason, size: scanner.bytes.count)
    }

    private mutating func damaged(_ path: String, offset: Int, reason: String, size: Int)
        throws(PersistenceError)
    {
        guard repair else { throw .damaged(file: path, offset: offset, reason: reason) }
        report.warnings.append(
            "\(path): --repair dropped the snapshot's \(size - offset) bytes from byte \(offset) on (\(reason))"
        )
    }

    /// Refuses a directory whose files do not fit together, unless `repair` is set.
    private mutating func refuse(_ reason: String) throws(PersistenceError) {
        guard repair else { throw .inconsistent(directory: directory.path, reason: reason) }
        report.warnings.append("\(directory.path): --repair goes on although \(reason)")
    }

    /// Moves logs that come after a cut aside, renamed with the suffix `.dropped`.
    private mutating func dropLogs(_ generations: ArraySlice<UInt64>) throws(PersistenceError) {
        for generation in generations {
            let path = directory.logPath(generation)
            try SystemFile.rename(path, to: path + ".dropped")
            report.warnings.append(
                "\(path): not redone, since an earlier log was cut; renamed \(path).dropped")
        }
    }

    private func keepDropped(_ bytes: [UInt8], of path: String) throws(PersistenceError) {
        let file = try SystemFile.openForAppending(path + ".dropped", creating: true)
        try file.truncate(to: 0)
        try file.write(bytes)
        try file.syncAll()
    }

    /// Whether log `generation` holds a change after its header.
    private func holdsRecords(_ generation: UInt64) throws(PersistenceError) -> Bool {
        var scanner = RecordScanner(try SystemFile.read(directory.logPath(generation)))
        return scanner.next() != nil && scanner.next() != nil
    }
}
