import Dispatch
import Foundation
import KeygateTestSupport
import Keyspace
import Testing

/// A subscriber for engine tests: counts its wake-ups.
final class CountingSubscriber: EventSubscriber {
    let wakeUps = DispatchSemaphore(value: 0)

    func eventsAvailable(in round: NotificationRound) {
        wakeUps.signal()
    }

    /// The ranges reported as holding nothing wanted.
    let skipped = TestLock<[ClosedRange<UInt64>]>([])
    let skips = DispatchSemaphore(value: 0)

    func nothingMatched(after previous: UInt64, through last: UInt64) {
        skipped.withLock { $0.append((previous + 1)...last) }
        skips.signal()
    }
}

@Suite("Keyspace events")
struct EventTests {
    let clock = ManualClock()
    let keyspace: KeyspaceEngine

    init() {
        keyspace = KeyspaceEngine(clock: clock, eventHistory: 1000)
    }

    func events(after cursor: UInt64 = 0, _ filter: EventFilter = EventFilter()) -> [String] {
        keyspace.events(after: EventPosition(id: cursor), matching: filter, limit: 1000).events.map {
            "\($0.type.rawValue) \($0.key)"
        }
    }

    func set(_ key: String, ttl: Duration? = nil, condition: WriteCondition = .always) throws {
        _ = try keyspace.setValue(
            Payload(bytes: [1]), forKey: Key(key), timeToLive: ttl, condition: condition)
    }

    @Test func everyChangeHasOneEventWithIncreasingIds() throws {
        try set("a")
        try set("a", ttl: .seconds(5))
        _ = try keyspace.removeValue(forKey: Key("a"), condition: .always)
        let batch = keyspace.events(after: EventPosition(id: 0), matching: EventFilter(), limit: 10)
        #expect(batch.events.map(\.id) == [1, 2, 3])
        #expect(batch.events.map(\.type) == [.set, .set, .del])
        #expect(batch.events.allSatisfy { $0.time == clock.now() })
        #expect(batch.cursor.id == 3)
        #expect(batch.lost == nil)
        #expect(keyspace.lastEventID == 3)
    }

    @Test func timeToLiveChangesAreExpireAndPersist() throws {
        try set("a")
        #expect(try keyspace.setTimeToLive(nil, forKey: Key("a")))  // no TTL to remove: no event
        #expect(try keyspace.setTimeToLive(.seconds(5), forKey: Key("a")))
        #expect(try keyspace.setTimeToLive(.seconds(9), forKey: Key("a")))
        #expect(try keyspace.setTimeToLive(nil, forKey: Key("a")))
        #expect(events() == ["set a", "expire a", "expire a", "persist a"])
    }

    @Test func expiryIsOneExpiredEventWhetherTheExpirerOrAReadFindsIt() throws {
        try set("by-expirer", ttl: .milliseconds(10))
        try set("by-read", ttl: .milliseconds(20))
        clock.advance(by: .milliseconds(10))
        _ = keyspace.expireDueKeys()
        clock.advance(by: .milliseconds(10))
        #expect(try keyspace.value(forKey: Key("by-read")) == nil)
        _ = keyspace.expireDueKeys()
        #expect(events() == ["set by-expirer", "set by-read", "expired by-expirer", "expired by-read"])
        let expired = keyspace.events(after: EventPosition(id: 2), matching: EventFilter(), limit: 10).events
        #expect(
            expired.map(\.time.milliseconds) == [clock.now().milliseconds - 10, clock.now().milliseconds])
    }

    @Test func queuesHavePushPopAndDelWhenEmptied() throws {
        _ = try keyspace.push(Payload(bytes: [1]), to: Key("q"))
        _ = try keyspace.push(Payload(bytes: [2]), to: Key("q"))
        _ = try keyspace.pop(from: [Key("q")])
        _ = try keyspace.pop(from: [Key("q")])
        _ = try keyspace.push(Payload(bytes: [3]), to: Key("r"))
        #expect(try keyspace.removeQueue(Key("r")))
        #expect(events() == ["push q", "push q", "pop q", "pop q", "del q", "push r", "del r"])
    }

    @Test func aMessageHandedToAWaitingConsumerIsPushedAndPopped() throws {
        let receiver = TestReceiver("r")
        _ = try keyspace.consume(.pop, from: [Key("q")], orWait: receiver, waitingAtMost: .max)
        _ = try keyspace.push(Payload(bytes: [1]), to: Key("q"))
        #expect(events() == ["push q", "pop q"])
    }

    @Test func refusedChangesHaveNoEvent() throws {
        try set("s")
        #expect(throws: KeyspaceError.self) { try set("s", condition: .ifAbsent) }
        #expect(throws: KeyspaceError.self) { try keyspace.push(Payload(bytes: [1]), to: Key("s")) }
        #expect(try !keyspace.removeValue(forKey: Key("absent"), condition: .always))
        #expect(try !keyspace.setTimeToLive(.seconds(1), forKey: Key("absent")))
        #expect(events() == ["set s"])
    }

    @Test func filtersByTypeAndKeyPattern() throws {
        try set("user:1")
        try set("order:1")
        _ = try keyspace.removeValue(forKey: Key("user:1"), condition: .always)
        let users = EventFilter(patterns: [try KeyPattern("user:*")])
        #expect(events(users) == ["set user:1", "del user:1"])
        #expect(events(EventFilter(types: [.del])) == ["del user:1"])
        let either = EventFilter(
            patterns: [try KeyPattern("order:*"), try KeyPattern("nothing")], types: [.set])
        #expect(events(either) == ["set order:1"])
        // The cursor moves past events that do not match, so they are not looked at again.
        #expect(
            keyspace.events(after: EventPosition(id: 0), matching: EventFilter(types: [.del]), limit: 1)
                .cursor.id == 3)
    }

    @Test func theHistoryKeepsTheNewestEventsAndReportsWhatWasLost() throws {
        let small = KeyspaceEngine(clock: clock, eventHistory: 5)
        for index in 1...8 {
            _ = try small.setValue(
                Payload(bytes: [1]), forKey: Key("k\(index)"), timeToLive: nil, condition: .always)
        }
        let fromStart = small.events(after: EventPosition(id: 0), matching: EventFilter(), limit: 100)
        #expect(fromStart.lost == 1...3)
        #expect(fromStart.events.map(\.id) == [4, 5, 6, 7, 8])
        let recent = small.events(after: EventPosition(id: 5), matching: EventFilter(), limit: 100)
        #expect(recent.lost == nil)
        #expect(recent.events.map(\.id) == [6, 7, 8])
        let atOldest = small.events(after: EventPosition(id: 3), matching: EventFilter(), limit: 100)
        #expect(atOldest.lost == nil)
        #expect(atOldest.events.count == 5)
        let caughtUp = small.events(after: EventPosition(id: 8), matching: EventFilter(), limit: 100)
        #expect(caughtUp.events.isEmpty && caughtUp.cursor.id == 8)
    }

    @Test func subscribersHearOfEventsTheyDoNotWantOnlyToSkipThem() throws {
        keyspace.start(expiring: false)
        defer { keyspace.stop() }
        let expiries = CountingSubscriber()
        keyspace.subscribe(expiries, filter: EventFilter(types: [.expired]))
        for index in 1...3 {
            try set("k\(index)")
            #expect(expiries.skips.wait(timeout: .now() + 5) == .success)
        }
        #expect(expiries.skipped.withLock { $0 } == [1...1, 2...2, 3...3])
        #expect(expiries.wakeUps.wait(timeout: .now()) == .timedOut)
    }

    @Test func subscribersAreWokenOnlyForEventsTheyWant() throws {
        keyspace.start(expiring: false)
        defer { keyspace.stop() }
        let users = CountingSubscriber()
        let everything = CountingSubscriber()
        keyspace.subscribe(users, filter: EventFilter(patterns: [try KeyPattern("user:*")]))
        keyspace.subscribe(everything, filter: EventFilter())
        try set("order:1")
        #expect(everything.wakeUps.wait(timeout: .now() + 5) == .success)
        try set("user:1")
        #expect(users.wakeUps.wait(timeout: .now() + 5) == .success)
        #expect(everything.wakeUps.wait(timeout: .now() + 5) == .success)
        keyspace.unsubscribe(users)
        try set("user:2")
        #expect(everything.wakeUps.wait(timeout: .now() + 5) == .success)
        // One order:1 event went by before: `users` was woken exactly once.
        #expect(users.wakeUps.wait(timeout: .now() + 0.05) == .timedOut)
    }

    @Test func stopsWhileTheNotifierWakesManySubscribers() throws {
        keyspace.start(expiring: false)
        let subscribers = (0..<2500).map { _ in CountingSubscriber() }
        for subscriber in subscribers {
            keyspace.subscribe(subscriber, filter: EventFilter())
        }
        try set("first")
        #expect(subscribers.last?.wakeUps.wait(timeout: .now() + 5) == .success)
        // Stop while rounds keep coming: the notifier must finish its round and end.
        let stopped = DispatchSemaphore(value: 0)
        let keyspace = keyspace
        DispatchQueue.global().async {
            keyspace.stop()
            stopped.signal()
        }
        for index in 0..<100 {
            try set("more\(index)")
        }
        #expect(stopped.wait(timeout: .now() + 5) == .success)
    }

    @Test func aRoundWakesEachSubscriberOnceForEveryEventAppendedBeforeIt() throws {
        // Appended before the notifier starts: one round finds all three.
        let subscriber = CountingSubscriber()
        keyspace.subscribe(subscriber, filter: EventFilter())
        for index in 1...3 {
            try set("k\(index)")
        }
        keyspace.start(expiring: false)
        defer { keyspace.stop() }
        #expect(subscriber.wakeUps.wait(timeout: .now() + 5) == .success)
        // The wake-up is for the whole batch, which one read returns in order.
        #expect(events() == ["set k1", "set k2", "set k3"])
        try set("k4")
        #expect(subscriber.wakeUps.wait(timeout: .now() + 5) == .success)
        #expect(subscriber.wakeUps.wait(timeout: .now() + 0.05) == .timedOut)
    }

    @Test func aSubscriberWokenAtTheEndOfALargeRoundIsToldToSkipWhatCameBeforeItsEvent() throws {
        // One round of 500 events it does not want and one it does: told to skip the 500
        // first, it reads from there, however far the history has moved by then.
        let small = KeyspaceEngine(clock: clock, eventHistory: 1000)
        let markers = CountingSubscriber()
        small.subscribe(markers, filter: EventFilter(patterns: [try KeyPattern("marker:*")]))
        for index in 1...500 {
            _ = try small.setValue(
                Payload(bytes: [1]), forKey: Key("k\(index)"), timeToLive: nil, condition: .always)
        }
        _ = try small.setValue(
            Payload(bytes: [1]), forKey: Key("marker:1"), timeToLive: nil, condition: .always)
        small.start(expiring: false)
        defer { small.stop() }
        #expect(markers.wakeUps.wait(timeout: .now() + 5) == .success)
        #expect(markers.skipped.withLock { $0 } == [1...500])
        #expect(
            small.events(after: EventPosition(id: 500), matching: EventFilter(), limit: 10).events.map(\.id)
                == [501])
    }

    @Test func subscribersOfEqualFiltersAreWokenTogetherAndLeaveOneByOne() throws {
        keyspace.start(expiring: false)
        defer { keyspace.stop() }
        let filter = EventFilter(patterns: [try KeyPattern("user:*")], types: [.set])
        let same = (0..<5).map { _ in CountingSubscriber() }
        let other = CountingSubscriber()
        for subscriber in same {
            keyspace.subscribe(subscriber, filter: filter)
        }
        keyspace.subscribe(other, filter: EventFilter(types: [.del]))
        try set("user:1")
        for subscriber in same {
            #expect(subscriber.wakeUps.wait(timeout: .now() + 5) == .success)
        }
        #expect(other.skips.wait(timeout: .now() + 5) == .success)
        // Leaving from the middle and the start of the group keeps the others in it.
        keyspace.unsubscribe(same[2])
        keyspace.unsubscribe(same[0])
        keyspace.unsubscribe(other)
        try set("user:2")
        for subscriber in [same[1], same[3], same[4]] {
            #expect(subscriber.wakeUps.wait(timeout: .now() + 5) == .success)
        }
        // The filter of the group that emptied can come back as a group of its own.
        keyspace.subscribe(other, filter: EventFilter(types: [.del]))
        _ = try keyspace.removeValue(forKey: Key("user:1"), condition: .always)
        #expect(other.wakeUps.wait(timeout: .now() + 5) == .success)
        for subscriber in [same[0], same[2]] {
            #expect(subscriber.wakeUps.wait(timeout: .now() + 0.05) == .timedOut)
        }
    }
}

@Suite("Key patterns")
struct KeyPatternTests {
    @Test(
        arguments: [
            ("*", "anything", true), ("user:*", "user:1", true), ("user:*", "users", false),
            ("h?llo", "hello", true), ("h?llo", "hllo", false), ("h?llo", "héllo", true),
            ("h[ae]llo", "hallo", true), ("h[ae]llo", "hillo", false), ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false), ("h[a-b]llo", "hbllo", true), ("h[a-b]llo", "hcllo", false),
            ("h\\*llo", "h*llo", true), ("h\\*llo", "hello", false), ("*:*:*", "a:b:c", true),
            ("*:*:*", "a:b", false), ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false),
            ("", "", true), ("**", "x", true), ("[z-a]", "m", true), ("[\\]]", "]", true),
        ])
    func matchesLikeRedis(pattern: String, key: String, expected: Bool) throws {
        // The empty key is not a key: it stands for "no characters" in the pattern check only.
        guard !key.isEmpty else {
            #expect(try KeyPattern(pattern).description == pattern)
            return
        }
        #expect(try KeyPattern(pattern).matches(Key(key)) == expected)
    }

    @Test(arguments: ["[abc", "abc\\", "x[^"])
    func refusesMalformedPatterns(pattern: String) {
        #expect(throws: KeyspaceError.self) { try KeyPattern(pattern) }
    }
}
