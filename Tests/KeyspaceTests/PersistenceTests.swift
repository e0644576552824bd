import Foundation
import Glibc
import KeygateTestSupport
import Testing

@testable import Keyspace

/// A fresh data directory, removed when the test ends.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "keygate-test-" + UUID().uuidString
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: file(name))))
    }

    func write(_ bytes: [UInt8], to name: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }

    var names: Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
    }
}

/// Everything a client can see of a keyspace, to compare one before and after a restart.
struct KeyspaceDump: Equatable, CustomStringConvertible {
    struct Row: Equatable {
        var key: String
        var type: KeyType
        var timeToLive: TimeToLive
        var version: Version?
        var value: Payload?
        var messages: [QueuedMessage]?
    }

    var rows: [Row]

    init(_ keyspace: KeyspaceEngine) throws {
        rows = try keyspace.keys(prefix: [], after: nil, limit: 100_000).keys.map { info in
            var row = Row(key: info.key.text, type: info.type, timeToLive: info.timeToLive)
            switch info.type {
            case .string:
                let stored = try keyspace.value(forKey: info.key)
                row.version = stored?.version
                row.value = stored?.value
            case .queue:
                row.messages = try keyspace.peek(info.key, limit: 100_000)
            }
            return row
        }
    }

    var description: String { rows.map { "\($0)" }.joined(separator: "\n") }
}

@Suite("Persistence: the log, snapshots and start-up", .serialized)
struct PersistenceTests {
    let directory = TemporaryDirectory()
    let clock = ManualClock()

    func open(
        fsync: PersistenceConfiguration.FsyncPolicy = .everysec, repair: Bool = false,
        configure: (inout PersistenceConfiguration) -> Void = { _ in }
    ) throws -> KeyspaceEngine {
        var configuration = PersistenceConfiguration(directory: directory.path)
        configuration.fsync = fsync
        configuration.repair = repair
        configure(&configuration)
        return try KeyspaceEngine.open(persistence: configuration, clock: clock)
    }

    static func text(_ value: String, _ type: String = "text/plain") -> Payload {
        Payload(bytes: Array(value.utf8), contentType: type)
    }

    /// Makes one change of every kind, some of them undone later, so that the state left
    /// depends on their order.
    func changeEverything(_ keyspace: KeyspaceEngine) throws {
        _ = try keyspace.setValue(Self.text("one"), forKey: Key("a"), timeToLive: nil, condition: .always)
        _ = try keyspace.setValue(
            Self.text("two"), forKey: Key("a"), timeToLive: .seconds(100), condition: .always)
        _ = try keyspace.setValue(Self.text("gone"), forKey: Key("b"), timeToLive: nil, condition: .always)
        _ = try keyspace.removeValue(forKey: Key("b"), condition: .always)
        _ = try keyspace.setValue(Self.text("ttl"), forKey: Key("c"), timeToLive: nil, condition: .always)
        _ = try keyspace.setTimeToLive(.seconds(50), forKey: Key("c"))
        _ = try keyspace.setValue(
            Payload(bytes: [0, 0xFF, 10]), forKey: Key("d"), timeToLive: .seconds(5), condition: .always)
        _ = try keyspace.setTimeToLive(nil, forKey: Key("d"))
        _ = try keyspace.setValue(
            Self.text("short"), forKey: Key("e"), timeToLive: .seconds(1), condition: .always)
        for index in 1...5 {
            _ = try keyspace.push(Self.text("m\(index)", "application/json"), to: Key("q"))
        }
        _ = try keyspace.pop(from: [Key("q")])
        try keyspace.giveBack(.popped(PoppedMessage(queue: Key("q"), message: Self.text("m0"))))
        _ = try keyspace.pop(from: [Key("q")])
        _ = try keyspace.pop(from: [Key("q")])
        _ = try keyspace.push(Self.text("x"), to: Key("removed"))
        _ = try keyspace.removeQueue(Key("removed"))
        _ = try keyspace.push(Self.text("only"), to: Key("emptied"))
        _ = try keyspace.pop(from: [Key("emptied")])
        _ = try keyspace.setValue(Self.text("é"), forKey: Key("ключ"), timeToLive: nil, condition: .always)
        clock.advance(by: .seconds(2))
        #expect(keyspace.expireDueKeys().expired == [try Key("e")])
    }

    @Test func everyChangeSurvivesARestart() throws {
        let keyspace = try open()
        try changeEverything(keyspace)
        let before = try KeyspaceDump(keyspace)
        let lastEventID = keyspace.lastEventID
        keyspace.stop()
        #expect(before.rows.map(\.key) == ["a", "c", "d", "q", "ключ"])
        #expect(
            before.rows.first { $0.key == "q" }?.messages?.map(\.message)
                == ["m3", "m4", "m5"].map { Self.text($0, "application/json") })

        let reopened = try open()
        defer { reopened.stop() }
        #expect(try KeyspaceDump(reopened) == before)
        #expect(reopened.recovery?.warnings == [])
        #expect(reopened.recovery?.expiredKeys == 0)
        #expect(reopened.isConsistent)
        // Versions and event ids go on where they were.
        let next = try reopened.setValue(
            Self.text("new"), forKey: Key("z"), timeToLive: nil, condition: .always)
        #expect(before.rows.allSatisfy { ($0.version?.rawValue ?? 0) < next.version.rawValue })
        #expect(reopened.lastEventID == lastEventID + 1)
    }

    @Test func keysWhoseDeadlinePassedWhileDownExpireWithAnEvent() throws {
        let keyspace = try open()
        _ = try keyspace.setValue(
            Self.text("v"), forKey: Key("soon"), timeToLive: .seconds(10), condition: .always)
        _ = try keyspace.setValue(
            Self.text("v"), forKey: Key("later"), timeToLive: .seconds(100), condition: .always)
        keyspace.stop()
        clock.advance(by: .seconds(30))

        let reopened = try open()
        defer { reopened.stop() }
        #expect(reopened.recovery?.expiredKeys == 1)
        #expect(try reopened.value(forKey: Key("soon")) == nil)
        #expect(reopened.timeToLive(forKey: try Key("later")) == .remaining(.seconds(70)))
        let events = reopened.events(after: EventPosition(id: 0), matching: EventFilter(), limit: 10)
        #expect(events.events.map(\.type) == [.expired])
        #expect(events.events.map(\.key.text) == ["soon"])
        // The expiry is in the log too: a second restart does not bring the key back.
        reopened.stop()
        let again = try open()
        defer { again.stop() }
        #expect(try again.value(forKey: Key("soon")) == nil)
        #expect(again.recovery?.expiredKeys == 0)
    }

    @Test func aTornLastRecordIsCutOffWithAWarning() throws {
        let keyspace = try open()
        _ = try keyspace.setValue(Self.text("kept"), forKey: Key("a"), timeToLive: nil, condition: .always)
        keyspace.stop()
        let log = "log-00000001.kgl"
        let intact = try directory.bytes(log)
        #expect(intact.count == Self.logicalEnd(of: intact), "a clean stop cuts off the room allocated ahead")
        let tornKey = try Key("b")
        let torn = RecordFraming.frame {
            JournalRecord(
                .set(key: tornKey, value: Self.text("torn"), version: Version(2), deadline: nil),
                lastEventID: 2
            )
            .encode(into: &$0)
        }
        try directory.write(intact + torn.dropLast(3), to: log)

        let reopened = try open()
        defer { reopened.stop() }
        #expect(try reopened.value(forKey: Key("a"))?.value == Self.text("kept"))
        #expect(try reopened.value(forKey: Key("b")) == nil)
        let warnings = reopened.recovery?.warnings ?? []
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("at byte \(intact.count)") == true)
        // The file is cut where the torn record began, and writing goes on after it.
        let cut = try directory.bytes(log)
        #expect(Array(cut.prefix(intact.count)) == intact)
        #expect(
            cut.dropFirst(intact.count).allSatisfy { $0 == 0 }, "after the cut, only room allocated ahead")
        _ = try reopened.setValue(Self.text("after"), forKey: Key("c"), timeToLive: nil, condition: .always)
        reopened.stop()
        let third = try open()
        defer { third.stop() }
        #expect(try third.value(forKey: Key("c"))?.value == Self.text("after"))
        #expect(third.recovery?.warnings == [])
    }

    @Test func damageBeforeTheEndStopsStartUpNamingTheFileAndOffset() throws {
        let keyspace = try open()
        for index in 0..<3 {
            _ = try keyspace.setValue(
                Self.text("v\(index)"), forKey: Key("k\(index)"), timeToLive: nil, condition: .always)
        }
        keyspace.stop()
        let log = "log-00000001.kgl"
        var bytes = try directory.bytes(log)
        var scanner = RecordScanner(bytes)
        _ = scanner.next()  // the header
        _ = scanner.next()  // k0
        let secondChange = scanner.offset
        bytes[secondChange + RecordFraming.headerSize + 2] ^= 0x01
        try directory.write(bytes, to: log)

        #expect(
            throws: PersistenceError.damaged(
                file: directory.file(log), offset: secondChange, reason: "a checksum mismatch")
        ) {
            _ = try open()
        }
        // Refusing changed nothing, and left the directory unlocked.
        #expect(try directory.bytes(log) == bytes)

        let repaired = try open(repair: true)
        defer { repaired.stop() }
        #expect(try repaired.value(forKey: Key("k0"))?.value == Self.text("v0"))
        #expect(try repaired.value(forKey: Key("k1")) == nil)
        #expect(try repaired.value(forKey: Key("k2")) == nil)
        #expect(repaired.recovery?.warnings.first?.contains("--repair dropped") == true)
        #expect(try directory.bytes(log + ".dropped") == Array(bytes[secondChange...]))
    }

    @Test func compactionKeepsTheStateAndReplacesTheLog() throws {
        let keyspace = try open()
        try changeEverything(keyspace)
        keyspace.compact()
        let status = try #require(keyspace.persistenceStatus)
        #expect(status.compactions == 1)
        #expect(status.compactionFailure == nil)
        #expect(directory.names.contains("snapshot.kgs"))
        #expect(!directory.names.contains("log-00000001.kgl"))
        #expect(directory.names.contains("log-00000002.kgl"))
        // Changes after the snapshot go to the new log.
        _ = try keyspace.setValue(Self.text("after"), forKey: Key("a"), timeToLive: nil, condition: .always)
        _ = try keyspace.pop(from: [Key("q")])
        let before = try KeyspaceDump(keyspace)
        keyspace.stop()

        let reopened = try open()
        defer { reopened.stop() }
        #expect(try KeyspaceDump(reopened) == before)
        #expect(reopened.recovery?.snapshotKeys == 5)
        #expect(reopened.recovery?.logRecords == 2)
        #expect(reopened.isConsistent)
    }

    @Test func aCrashBeforeTheSnapshotIsRenamedLeavesTheOldFilesValid() throws {
        let keyspace = try open()
        try changeEverything(keyspace)
        let before = try KeyspaceDump(keyspace)
        keyspace.stop()
        // What a crash in the middle of a compaction leaves: the next log, and half a snapshot.
        try directory.write([], to: "log-00000002.kgl")
        try directory.write(Array("half a snapshot".utf8), to: "snapshot.kgs.tmp")

        let reopened = try open()
        defer { reopened.stop() }
        #expect(try KeyspaceDump(reopened) == before)
        #expect(!directory.names.contains("snapshot.kgs.tmp"))
    }

    @Test func theLogIsCompactedOnItsOwnOnceItOutgrowsTheLiveData() throws {
        let keyspace = try open { configuration in
            configuration.compactionMinimumBytes = 4096
            configuration.compactionRatio = 2
        }
        keyspace.start(expiring: false)
        // One key rewritten: the live data stays small while the log grows.
        for index in 0..<500 {
            _ = try keyspace.setValue(
                Self.text("value \(index)"), forKey: Key("k"), timeToLive: nil, condition: .always)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while keyspace.persistenceStatus.map({ $0.compactions == 0 || $0.isCompacting }) ?? false,
            ContinuousClock.now < deadline
        {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let status = try #require(keyspace.persistenceStatus)
        #expect(status.compactions >= 1)
        #expect(status.lastSnapshot != nil)
        // Writers asked for compactions all along, but one is made only when due: the
        // 500 writes (about 25 KB of log) are worth a handful, not one each.
        #expect(status.compactions < 20)
        #expect(directory.names.contains("snapshot.kgs"))
        #expect(!directory.names.contains("log-00000001.kgl"))
        let before = try KeyspaceDump(keyspace)
        keyspace.stop()
        let reopened = try open()
        defer { reopened.stop() }
        #expect(try KeyspaceDump(reopened) == before)
        #expect(try reopened.value(forKey: Key("k"))?.value == Self.text("value 499"))
    }

    /// Runs `body` with this process's files limited to `bytes` (`RLIMIT_FSIZE`, with
    /// `SIGXFSZ` ignored), which makes `write(2)` past it fail as on a full disk.
    func withFileSizeLimit(_ bytes: Int, _ body: () throws -> Void) throws {
        signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        #expect(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved) == 0)
        var limited = saved
        limited.rlim_cur = rlim_t(bytes)
        #expect(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited) == 0)
        defer { setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved) }
        try body()
    }

    @Test func aLogThatCannotBeWrittenRefusesChangesUntilItCanAgain() throws {
        let keyspace = try open()
        keyspace.start(expiring: false)
        defer { keyspace.stop() }
        _ = try keyspace.setValue(Self.text("before"), forKey: Key("a"), timeToLive: nil, condition: .always)
        let allocated = try directory.bytes("log-00000001.kgl")
        try withFileSizeLimit(allocated.count) {
            // Until the room allocated ahead is used up, changes go on; then the log cannot
            // grow, and the change that found no room is in memory, but its answer says it may
            // not survive.
            let large = Self.text(String(repeating: "x", count: 100))
            var written = 0
            while (try? keyspace.setValue(
                large, forKey: Key("b\(written)"), timeToLive: nil, condition: .always))
                != nil
            {
                written += 1
                guard written < 10_000 else {
                    Issue.record("the log grew past RLIMIT_FSIZE")
                    return
                }
            }
            #expect(written > 100)
            // Later changes are refused before they change anything; reads go on.
            #expect(throws: KeyspaceError.self) {
                _ = try keyspace.push(Self.text("m"), to: Key("q"))
            }
            #expect(try keyspace.queueInfo(Key("q")).length == 0)
            #expect(try keyspace.value(forKey: Key("a"))?.value == Self.text("before"))
            let failure = try #require(keyspace.persistenceStatus?.failure)
            #expect(failure.contains("File too large"))
            // The log holds no half record.
            let log = try directory.bytes("log-00000001.kgl")
            #expect(log.count == allocated.count)
            var scanner = RecordScanner(log)
            var records = 0
            while scanner.next() != nil { records += 1 }
            #expect(scanner.stop == .end)
            #expect(records == 1 + 1 + written)
        }
        // The syncer writes what was kept within a second, and changes are taken again.
        let deadline = ContinuousClock.now + .seconds(10)
        while keyspace.persistenceStatus?.failure != nil, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(keyspace.persistenceStatus?.failure == nil)
        _ = try keyspace.push(Self.text("m"), to: Key("q"))
        keyspace.stop()

        let reopened = try open()
        defer { reopened.stop() }
        #expect(try reopened.value(forKey: Key("b0"))?.value.bytes.count == 100)
        #expect(try reopened.value(forKey: Key("b\(reopened.count - 3)"))?.value.bytes.count == 100)
        #expect(try reopened.peek(Key("q"), limit: 10).map(\.message) == [Self.text("m")])
        #expect(reopened.recovery?.warnings == [])
    }

    /// Where the records of a log file end: before the zeros of the room allocated ahead.
    static func logicalEnd(of bytes: [UInt8]) -> Int {
        var scanner = RecordScanner(bytes)
        while scanner.next() != nil {}
        return scanner.offset
    }

    @Test func aSecondServerCannotOpenTheSameDirectory() throws {
        let keyspace = try open()
        #expect(throws: PersistenceError.locked(directory: directory.path)) {
            _ = try open()
        }
        keyspace.stop()
        let reopened = try open()
        reopened.stop()
    }

    @Test func withAlwaysAChangeIsAcknowledgedOnlyOnceSynced() throws {
        let keyspace = try open(fsync: .always)
        keyspace.start(expiring: false)
        defer { keyspace.stop() }
        #expect(keyspace.pendingDurability() == nil)
        _ = try keyspace.setValue(Self.text("v"), forKey: Key("a"), timeToLive: nil, condition: .always)
        let ticket = try #require(keyspace.pendingDurability())
        let synced = DispatchSemaphore(value: 0)
        let outcome = TestLock<KeyspaceError??>(.none)
        keyspace.whenDurable(ticket) { failure in
            outcome.withLock { $0 = .some(failure) }
            synced.signal()
        }
        #expect(synced.wait(timeout: .now() + 10) == .success)
        #expect(outcome.withLock { $0 } == .some(nil))
        #expect(keyspace.pendingDurability() == nil)
        #expect(keyspace.persistenceStatus?.lastSync != nil)
        // Many waiters share a sync.
        let count = 200
        let group = DispatchGroup()
        for index in 0..<count {
            _ = try keyspace.setValue(
                Self.text("\(index)"), forKey: Key("k\(index)"), timeToLive: nil, condition: .always)
            if let ticket = keyspace.pendingDurability() {
                group.enter()
                keyspace.whenDurable(ticket) { _ in group.leave() }
            }
        }
        #expect(group.wait(timeout: .now() + 10) == .success)
    }

    @Test func everysecDoesNotMakeChangesWait() throws {
        let keyspace = try open(fsync: .everysec)
        defer { keyspace.stop() }
        _ = try keyspace.setValue(Self.text("v"), forKey: Key("a"), timeToLive: nil, condition: .always)
        #expect(keyspace.pendingDurability() == nil)
        // Written before the call returned: a process crash now loses nothing.
        let log = try directory.bytes("log-00000001.kgl")
        var scanner = RecordScanner(log)
        var records = 0
        while scanner.next() != nil { records += 1 }
        #expect(records == 2)
    }
}
