import KeygateTestSupport
import Testing

@testable import Keyspace

/// Leases, delays, moves and policies across restarts, from the log and from a snapshot, on a
/// manual clock.
@Suite("Persistence of leases, delays and policies", .serialized)
struct LeasePersistenceTests {
    let directory = TemporaryDirectory()
    let clock = ManualClock()

    func open() throws -> KeyspaceEngine {
        try KeyspaceEngine.open(
            persistence: PersistenceConfiguration(directory: directory.path), clock: clock)
    }

    static func text(_ value: String) -> Payload {
        Payload(bytes: Array(value.utf8), contentType: "text/plain")
    }

    func receive(_ queue: String, from keyspace: KeyspaceEngine, visibility: Duration? = nil) throws
        -> LeasedMessage?
    {
        let outcome = try keyspace.consume(
            .receive(visibility: visibility, limit: 1), from: [Key(queue)], orWait: nil, waitingAtMost: 0)
        guard case .delivered(.received(_, let messages)) = outcome else { return nil }
        return messages.first
    }

    /// Everything a client sees of the queues `names`, in-flight and delayed messages included.
    func state(of keyspace: KeyspaceEngine, _ names: [String]) throws -> [String] {
        try names.map { name in
            let info = try keyspace.queueInfo(Key(name))
            let line = try keyspace.peek(Key(name), limit: 100).map { "\($0.id):\($0.attempts)" }
            return "\(name) \(info.visible)/\(info.inFlight)/\(info.delayed) " + line.joined(separator: ",")
        }
    }

    /// Leases, acknowledgements, a release, a dead letter, a delay, a move and policies, for
    /// both restarts to compare.
    func changeEverything(_ keyspace: KeyspaceEngine) throws -> (leased: LeasedMessage, acked: LeasedMessage)
    {
        _ = try keyspace.setPolicy(
            QueuePolicy(visibility: .seconds(60), maxReceives: 1, deadLetter: Key("dead")), of: Key("q"))
        _ = try keyspace.setPolicy(QueuePolicy(visibility: .seconds(5)), of: Key("empty"))
        _ = try keyspace.setPolicy(QueuePolicy(visibility: .seconds(5)), of: Key("reset"))
        _ = try keyspace.setPolicy(nil, of: Key("reset"))
        for index in 1...5 {
            _ = try keyspace.push(Self.text("m\(index)"), to: Key("q"))
        }
        let acked = try #require(try receive("q", from: keyspace))
        #expect(try keyspace.acknowledge([acked.receipt], in: Key("q")) == [.acknowledged])
        let released = try #require(try receive("q", from: keyspace))
        // maxReceives 1: released, its first lease was its last.
        _ = try keyspace.changeVisibility(of: released.receipt, in: Key("q"), to: .zero)
        let leased = try #require(try receive("q", from: keyspace, visibility: .seconds(20)))
        _ = try keyspace.changeVisibility(of: leased.receipt, in: Key("q"), to: .seconds(40))
        _ = try keyspace.push(Self.text("later"), to: Key("q"), delay: .seconds(30))
        _ = try keyspace.consume(.move(to: Key("moved")), from: [Key("q")], orWait: nil, waitingAtMost: 0)
        return (leased, acked)
    }

    @Test(arguments: [false, true])
    func leasesDelaysAndPoliciesSurviveARestart(compacting: Bool) throws {
        let keyspace = try open()
        let (leased, acked) = try changeEverything(keyspace)
        let names = ["q", "dead", "moved"]
        let before = try state(of: keyspace, names)
        #expect(before == ["q 1/1/1 6:0", "dead 1/0/0 3:1", "moved 1/0/0 5:0"])
        if compacting {
            keyspace.compact()
        }
        keyspace.stop()

        let reopened = try open()
        defer { reopened.stop() }
        #expect(try state(of: reopened, names) == before)
        #expect(reopened.isConsistent)
        #expect(try reopened.policy(of: Key("q")).maxReceives == 1)
        #expect(try reopened.policy(of: Key("empty")).visibility == .seconds(5))
        #expect(try reopened.policy(of: Key("reset")) == .standard)
        // Receipts outlive the restart: an acknowledged message stays acknowledged, and a
        // current lease can still be acknowledged.
        #expect(
            try reopened.acknowledge([acked.receipt, leased.receipt], in: Key("q")) == [
                .expired, .acknowledged,
            ])
        clock.advance(by: .seconds(30))
        _ = reopened.expireDueKeys()
        #expect(try reopened.queueInfo(Key("q")).visible == 2)
    }

    @Test func aLeaseThatWouldHaveEndedWhileDownEndsAtStartUp() throws {
        let keyspace = try open()
        _ = try keyspace.push(Self.text("m"), to: Key("q"))
        _ = try keyspace.push(Self.text("d"), to: Key("q"), delay: .seconds(5))
        let leased = try #require(try receive("q", from: keyspace, visibility: .seconds(10)))
        keyspace.stop()
        clock.advance(by: .seconds(9))

        var reopened = try open()
        #expect(
            try reopened.queueInfo(Key("q"))
                == QueueInfo(length: 2, consumers: 0, visible: 1, inFlight: 1, delayed: 0))
        reopened.stop()
        clock.advance(by: .seconds(1))

        reopened = try open()
        defer { reopened.stop() }
        #expect(try reopened.queueInfo(Key("q")).visible == 2)
        let again = try #require(try receive("q", from: reopened))
        #expect(again.queued.id == leased.queued.id && again.queued.attempts == 2)
        #expect(try reopened.acknowledge([leased.receipt], in: Key("q")) == [.expired])
        #expect(reopened.isConsistent)
    }

    @Test func recordsOfLogsWithoutMessageIdsAreStillRead() throws {
        var state = KeyspaceState()
        let queue = try Key("q")
        let since = Timestamp(milliseconds: 1_600_000_000_000)
        for (text, atHead) in [("a", false), ("b", false), ("first", true)] {
            state.apply(
                JournalRecord(
                    .legacyPush(
                        queue: queue, message: Self.text(text), atHead: atHead,
                        created: atHead ? nil : Version(1)),
                    lastEventID: 1),
                loggedSince: since, now: since)
        }
        state.apply(JournalRecord(.pop(queue: queue), lastEventID: 2), loggedSince: since, now: since)
        let messages = try state.peek(queue, limit: 10, now: since)
        #expect(messages.map { String(decoding: $0.message.bytes, as: UTF8.self) } == ["a", "b"])
        #expect(messages.allSatisfy { $0.enqueuedAt == since })
        #expect(state.isConsistent)
    }
}
