import Dispatch
import Foundation
import Keyspace
import Synchronization
import Testing

@Suite("Keyspace engine on a manual clock")
struct KeyspaceEngineTests {
    let clock = ManualClock()
    let keyspace: KeyspaceEngine

    init() {
        keyspace = KeyspaceEngine(clock: clock)
    }

    func set(_ key: String, _ value: String, ttl: Duration? = nil, condition: WriteCondition = .always)
        throws -> WriteOutcome
    {
        try keyspace.setValue(
            Payload(bytes: Array(value.utf8), contentType: "text/plain"), forKey: Key(key),
            timeToLive: ttl, condition: condition)
    }

    func value(_ key: String) throws -> String? {
        try keyspace.value(forKey: Key(key)).map { String(decoding: $0.value.bytes, as: UTF8.self) }
    }

    @Test func storesAndReplacesValuesWithNewVersions() throws {
        let created = try set("a", "one")
        guard case .created = created else {
            Issue.record("expected created")
            return
        }
        let replaced = try set("a", "two")
        guard case .replaced = replaced else {
            Issue.record("expected replaced")
            return
        }
        #expect(replaced.version != created.version)
        #expect(try value("a") == "two")
        #expect(try keyspace.value(forKey: Key("a"))?.value.contentType == "text/plain")
        #expect(try keyspace.value(forKey: Key("a"))?.version == replaced.version)
    }

    @Test func deletesValues() throws {
        _ = try set("a", "one")
        #expect(try keyspace.removeValue(forKey: Key("a"), condition: .always))
        #expect(try !keyspace.removeValue(forKey: Key("a"), condition: .always))
        #expect(try value("a") == nil)
        #expect(keyspace.isConsistent)
    }

    @Test func reportsTheTimeToLiveInMilliseconds() throws {
        _ = try set("a", "one", ttl: .milliseconds(1500))
        _ = try set("b", "two")
        clock.advance(by: .milliseconds(250))
        #expect(try keyspace.timeToLive(forKey: Key("a")) == .remaining(.milliseconds(1250)))
        #expect(try keyspace.timeToLive(forKey: Key("b")) == .persistent)
        #expect(try keyspace.timeToLive(forKey: Key("c")) == nil)
    }

    @Test func roundsFractionsOfAMillisecondUp() throws {
        _ = try set("a", "one", ttl: .microseconds(100))
        #expect(try keyspace.timeToLive(forKey: Key("a")) == .remaining(.milliseconds(1)))
    }

    @Test func aWriteWithoutTimeToLiveClearsTheOldOne() throws {
        _ = try set("a", "one", ttl: .seconds(1))
        _ = try set("a", "two")
        #expect(try keyspace.timeToLive(forKey: Key("a")) == .persistent)
        clock.advance(by: .seconds(2))
        #expect(keyspace.expireDueKeys().expired.isEmpty)
        #expect(try value("a") == "two")
        #expect(keyspace.volatileCount == 0)
        #expect(keyspace.isConsistent)
    }

    @Test func changesAndRemovesTheTimeToLive() throws {
        _ = try set("a", "one")
        #expect(try keyspace.setTimeToLive(.seconds(10), forKey: Key("a")))
        #expect(try keyspace.timeToLive(forKey: Key("a")) == .remaining(.seconds(10)))
        #expect(try keyspace.setTimeToLive(nil, forKey: Key("a")))
        #expect(try keyspace.timeToLive(forKey: Key("a")) == .persistent)
        #expect(try !keyspace.setTimeToLive(.seconds(1), forKey: Key("absent")))
        #expect(keyspace.volatileCount == 0)
        #expect(keyspace.isConsistent)
    }

    @Test(arguments: [Duration.zero, .milliseconds(-5), .seconds(10_000_000_001)])
    func refusesTimesToLiveOutOfRange(ttl: Duration) throws {
        #expect(throws: KeyspaceError.self) { try set("a", "one", ttl: ttl) }
        #expect(try value("a") == nil)
        _ = try set("a", "one")
        #expect(throws: KeyspaceError.self) { try keyspace.setTimeToLive(ttl, forKey: Key("a")) }
        #expect(try keyspace.timeToLive(forKey: Key("a")) == .persistent)
    }

    @Test func readsNeverSeeAKeyPastItsDeadline() throws {
        _ = try set("a", "one", ttl: .milliseconds(100))
        clock.advance(by: .milliseconds(99))
        #expect(try value("a") == "one")
        clock.advance(by: .milliseconds(1))
        // The expirer has not run: the read itself finds the key expired.
        #expect(try value("a") == nil)
        #expect(try keyspace.timeToLive(forKey: Key("a")) == nil)
        #expect(keyspace.count == 0)
        #expect(keyspace.isConsistent)
    }

    @Test func theExpirerRemovesExactlyTheKeysDue() throws {
        for index in 0..<100 {
            _ = try set("k\(index)", "v", ttl: .milliseconds(Int64(10 * (index + 1))))
        }
        _ = try set("persistent", "v")
        clock.advance(by: .milliseconds(500))
        let pass = keyspace.expireDueKeys(limit: 1000)
        #expect(pass.expired.map(\.text) == (0..<50).map { "k\($0)" })
        #expect(pass.nextDeadline == clock.now() + .milliseconds(10))
        #expect(!pass.hasMoreDue)
        #expect(keyspace.count == 51)
        #expect(keyspace.isConsistent)
    }

    @Test func theExpirerStopsAtItsBatchLimit() throws {
        for index in 0..<10 {
            _ = try set("k\(index)", "v", ttl: .milliseconds(1))
        }
        clock.advance(by: .milliseconds(1))
        let first = keyspace.expireDueKeys(limit: 4)
        #expect(first.expired.count == 4)
        #expect(first.hasMoreDue)
        #expect(keyspace.expireDueKeys(limit: 100).expired.count == 6)
    }

    @Test func overwritingOrDeletingBeforeTheDeadlineKeepsTheIndexExact() throws {
        _ = try set("moved", "v", ttl: .milliseconds(100))
        _ = try set("moved", "v", ttl: .milliseconds(500))
        _ = try set("deleted", "v", ttl: .milliseconds(100))
        _ = try keyspace.removeValue(forKey: Key("deleted"), condition: .always)
        _ = try set("shortened", "v", ttl: .seconds(100))
        _ = try keyspace.setTimeToLive(.milliseconds(50), forKey: Key("shortened"))
        #expect(keyspace.volatileCount == 2)
        #expect(keyspace.isConsistent)
        clock.advance(by: .milliseconds(100))
        #expect(keyspace.expireDueKeys().expired.map(\.text) == ["shortened"])
        #expect(try value("moved") == "v")
        clock.advance(by: .milliseconds(400))
        #expect(keyspace.expireDueKeys().expired.map(\.text) == ["moved"])
        #expect(keyspace.count == 0)
        #expect(keyspace.isConsistent)
    }

    @Test func writeConditionsGuardWrites() throws {
        #expect(throws: KeyspaceError.self) { try set("a", "x", condition: .ifPresent) }
        #expect(try value("a") == nil)
        let created = try set("a", "one", condition: .ifAbsent)
        #expect(throws: KeyspaceError.self) { try set("a", "two", condition: .ifAbsent) }
        #expect(try value("a") == "one")
        _ = try set("a", "two", condition: WriteCondition(ifMatch: .list([created.version])))
        #expect(throws: KeyspaceError.self) {
            try set("a", "three", condition: WriteCondition(ifMatch: .list([created.version])))
        }
        #expect(try value("a") == "two")
        #expect(throws: KeyspaceError.self) {
            try keyspace.removeValue(
                forKey: Key("a"), condition: WriteCondition(ifMatch: .list([created.version])))
        }
        #expect(try value("a") == "two")
    }

    @Test func anExpiredKeyCountsAsAbsentForConditions() throws {
        _ = try set("a", "one", ttl: .milliseconds(10))
        clock.advance(by: .milliseconds(10))
        guard case .created = try set("a", "two", condition: .ifAbsent) else {
            Issue.record("an expired key must be replaced as absent")
            return
        }
    }

    @Test func listsKeysByPrefixInPagesWithTheirDetails() throws {
        _ = try set("user:1", "a", ttl: .seconds(5))
        _ = try set("user:2", "bb")
        _ = try set("user:3", "ccc")
        _ = try set("other", "d")
        let first = keyspace.keys(prefix: Array("user:".utf8), after: nil, limit: 2)
        #expect(first.keys.map(\.key.text) == ["user:1", "user:2"])
        #expect(
            first.keys[0]
                == KeyInfo(
                    key: try Key("user:1"), type: .string, timeToLive: .remaining(.seconds(5)), bytes: 1))
        #expect(first.keys[1].timeToLive == .persistent)
        let second = keyspace.keys(prefix: Array("user:".utf8), after: first.cursor, limit: 2)
        #expect(second.keys.map(\.key.text) == ["user:3"])
        #expect(second.cursor == nil)
        #expect(keyspace.keys(prefix: [], after: nil, limit: 10).keys.count == 4)
    }

    @Test func listingsSkipExpiredKeys() throws {
        _ = try set("a", "v", ttl: .milliseconds(10))
        _ = try set("b", "v")
        clock.advance(by: .milliseconds(10))
        #expect(keyspace.keys(prefix: [], after: nil, limit: 10).keys.map(\.key.text) == ["b"])
    }

    @Test func pagesListEachStableKeyExactlyOnceUnderConcurrentWrites() throws {
        let stable = try (0..<2_000).map { try Key(String(format: "stable-%05d", $0)) }
        for key in stable {
            _ = try keyspace.setValue(
                Payload(bytes: [1]), forKey: key, timeToLive: nil, condition: .always)
        }
        let isDone = Atomic<Bool>(false)
        let writers = DispatchGroup()
        for writer in 0..<2 {
            let keyspace = keyspace
            writers.enter()
            Thread.detachNewThread {
                defer { writers.leave() }
                var round = 0
                while !isDone.load(ordering: .relaxed) {
                    // Churn keys interleaved with the stable ones, so pages shift under the cursor.
                    let key = try? Key(String(format: "stable-%05d-churn-%d", (round * 7) % 2000, writer))
                    if let key {
                        _ = try? keyspace.setValue(
                            Payload(bytes: [2]), forKey: key, timeToLive: nil, condition: .always)
                        if round % 2 == 0 {
                            _ = try? keyspace.removeValue(forKey: key, condition: .always)
                        }
                    }
                    round += 1
                }
            }
        }
        var seen: [Key] = []
        var cursor: Key?
        repeat {
            let page = keyspace.keys(prefix: Array("stable-".utf8), after: cursor, limit: 37)
            seen += page.keys.map(\.key).filter { !$0.text.contains("churn") }
            cursor = page.cursor
        } while cursor != nil
        isDone.store(true, ordering: .relaxed)
        writers.wait()
        #expect(seen == stable)
        #expect(keyspace.isConsistent)
    }
}

@Suite("Keyspace engine with its expirer thread")
struct ExpirerTests {
    @Test func removesKeysAtTheirDeadlineWithoutReads() throws {
        let keyspace = KeyspaceEngine()
        keyspace.start()
        defer { keyspace.stop() }
        for index in 0..<100 {
            _ = try keyspace.setValue(
                Payload(bytes: [1]), forKey: Key("k\(index)"), timeToLive: .milliseconds(50 + index),
                condition: .always)
        }
        _ = try keyspace.setValue(
            Payload(bytes: [1]), forKey: Key("persistent"), timeToLive: nil, condition: .always)
        // Real time is the point here: poll, bounded, until the thread has removed them.
        let deadline = ContinuousClock.now + .seconds(5)
        while keyspace.count > 1 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(keyspace.count == 1)
        #expect(keyspace.isConsistent)
    }

    @Test func wakesForAnEarlierDeadlineThanTheOneItSleepsUntil() throws {
        let keyspace = KeyspaceEngine()
        keyspace.start()
        defer { keyspace.stop() }
        _ = try keyspace.setValue(
            Payload(bytes: [1]), forKey: Key("late"), timeToLive: .seconds(60), condition: .always)
        // Give the thread time to go to sleep until the 60 s deadline; if it has not, the test
        // still holds, it only checks less.
        Thread.sleep(forTimeInterval: 0.05)
        let started = ContinuousClock.now
        _ = try keyspace.setValue(
            Payload(bytes: [1]), forKey: Key("early"), timeToLive: .milliseconds(20), condition: .always)
        while keyspace.count > 1 && ContinuousClock.now - started < .seconds(5) {
            Thread.sleep(forTimeInterval: 0.002)
        }
        #expect(keyspace.count == 1)
        #expect(ContinuousClock.now - started < .seconds(1))
    }
}
