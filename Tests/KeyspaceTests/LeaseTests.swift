import KeygateTestSupport
import Keyspace
import Testing

/// Leased receives, acknowledgements, visibility timeouts, dead letters, delays and moves, on a
/// manual clock: the expirer's passes are run by hand, at the moments the tests choose.
@Suite("Leases, delays and moves in the keyspace engine")
struct LeaseTests {
    let clock = ManualClock()
    let keyspace: KeyspaceEngine

    init() {
        keyspace = KeyspaceEngine(clock: clock)
    }

    static func text(_ value: String) -> Payload {
        Payload(bytes: Array(value.utf8), contentType: "text/plain")
    }

    func push(_ text: String, to queue: String, delay: Duration? = nil) throws {
        _ = try keyspace.push(Self.text(text), to: Key(queue), delay: delay)
    }

    /// Receives up to `limit` messages without waiting.
    func receive(_ queue: String, visibility: Duration? = nil, limit: Int = 1) throws -> [LeasedMessage] {
        let outcome = try keyspace.consume(
            .receive(visibility: visibility, limit: limit), from: [Key(queue)], orWait: nil, waitingAtMost: 0)
        guard case .delivered(.received(_, let messages)) = outcome else { return [] }
        return messages
    }

    func ack(_ receipts: String..., in queue: String) throws -> [LeaseStatus] {
        try keyspace.acknowledge(receipts, in: Key(queue))
    }

    func texts(_ messages: [LeasedMessage]) -> [String] {
        messages.map { String(decoding: $0.queued.message.bytes, as: UTF8.self) }
    }

    func pop(_ queue: String) throws -> String? {
        try keyspace.pop(from: [Key(queue)]).map { String(decoding: $0.message.bytes, as: UTF8.self) }
    }

    func info(_ queue: String) throws -> QueueInfo {
        try keyspace.queueInfo(Key(queue))
    }

    /// Moves the clock and runs the expirer's pass, as its thread would at that moment.
    func advance(by duration: Duration) {
        clock.advance(by: duration)
        _ = keyspace.expireDueKeys()
    }

    @Test func aReceivedMessageStaysInvisibleUntilAcknowledgedThenIsGoneForGood() throws {
        try push("job", to: "q")
        let received = try receive("q", visibility: .seconds(10))
        let leased = try #require(received.first)
        #expect(texts(received) == ["job"])
        #expect(leased.queued.attempts == 1)
        #expect(leased.visibleUntil == clock.now() + .seconds(10))
        #expect(leased.queued.enqueuedAt == clock.now())
        #expect(leased.receipt.count == 44)
        #expect(try info("q") == QueueInfo(length: 1, consumers: 0, visible: 0, inFlight: 1, delayed: 0))
        #expect(try pop("q") == nil)
        #expect(try receive("q").isEmpty)
        #expect(try ack(leased.receipt, in: "q") == [.acknowledged])
        #expect(try info("q").length == 0)
        #expect(keyspace.count == 0)
        // Acknowledged once: the lease has ended, whatever it is asked again.
        #expect(try ack(leased.receipt, in: "q") == [.expired])
        advance(by: .seconds(60))
        #expect(try pop("q") == nil)
        #expect(keyspace.isConsistent)
    }

    @Test func aLeaseThatEndsPutsTheMessageBackAtTheHeadWithANewReceipt() throws {
        try push("first", to: "q")
        try push("second", to: "q")
        let first = try #require(try receive("q", visibility: .seconds(5)).first)
        advance(by: .milliseconds(4999))
        #expect(try info("q").inFlight == 1)
        advance(by: .milliseconds(1))
        #expect(try info("q") == QueueInfo(length: 2, consumers: 0, visible: 2, inFlight: 0, delayed: 0))
        let again = try #require(try receive("q", visibility: .seconds(5)).first)
        #expect(texts([again]) == ["first"])
        #expect(again.queued.attempts == 2)
        #expect(again.queued.id == first.queued.id)
        #expect(again.receipt != first.receipt)
        #expect(try ack(first.receipt, in: "q") == [.expired])
        #expect(throws: KeyspaceError.leaseExpired(queue: try Key("q"))) {
            try keyspace.changeVisibility(of: first.receipt, in: Key("q"), to: .seconds(5))
        }
        #expect(try ack(again.receipt, in: "q") == [.acknowledged])
        #expect(keyspace.isConsistent)
    }

    @Test func messagesWhoseLeasesEndGoBackToTheirOwnPlacesInLine() throws {
        for name in ["a", "b", "c", "d"] {
            try push(name, to: "q")
        }
        let leased = try receive("q", visibility: .seconds(10), limit: 3)
        #expect(texts(leased) == ["a", "b", "c"])
        // Released in the reverse order, they still come back as a, b, c, before d.
        for message in leased.reversed() {
            _ = try keyspace.changeVisibility(of: message.receipt, in: Key("q"), to: .zero)
        }
        #expect(try (0..<4).compactMap { _ in try pop("q") } == ["a", "b", "c", "d"])
        #expect(keyspace.isConsistent)
    }

    @Test func aLeaseIsExtendedOrReleasedByItsReceipt() throws {
        try push("long job", to: "q")
        let leased = try #require(try receive("q", visibility: .seconds(5)).first)
        advance(by: .seconds(4))
        let extended = try keyspace.changeVisibility(of: leased.receipt, in: Key("q"), to: .seconds(30))
        #expect(extended == clock.now() + .seconds(30))
        advance(by: .seconds(29))
        #expect(try info("q").inFlight == 1)
        let released = try keyspace.changeVisibility(of: leased.receipt, in: Key("q"), to: .zero)
        #expect(released == clock.now())
        #expect(try info("q").visible == 1)
        #expect(throws: KeyspaceError.leaseExpired(queue: try Key("q"))) {
            try keyspace.changeVisibility(of: leased.receipt, in: Key("q"), to: .seconds(5))
        }
        #expect(try receive("q").first?.queued.attempts == 2)
        #expect(keyspace.isConsistent)
    }

    @Test func aLeasePastItsEndIsEndedByWhoeverFindsItFirst() throws {
        try push("m", to: "q")
        let leased = try #require(try receive("q", visibility: .seconds(1)).first)
        // The expirer has not run yet: the acknowledgement finds the lease over, and ends it.
        clock.advance(by: .seconds(1))
        #expect(try ack(leased.receipt, in: "q") == [.expired])
        #expect(try info("q").visible == 1)
        #expect(keyspace.isConsistent)
    }

    @Test func receiptsCannotBeForgedOrUsedOnAnotherQueue() throws {
        try push("mine", to: "q")
        try push("other", to: "r")
        let leased = try #require(try receive("q").first)
        var bytes = Array(leased.receipt.utf8)
        bytes[20] = bytes[20] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let forged = String(decoding: bytes, as: UTF8.self)
        #expect(try ack(forged, in: "q") == [.unknown])
        #expect(try ack(leased.receipt, in: "r") == [.unknown])
        #expect(throws: KeyspaceError.unknownReceipt(queue: try Key("q"))) {
            try keyspace.changeVisibility(of: forged, in: Key("q"), to: .zero)
        }
        for malformed in ["", "abc", String(repeating: "*", count: 44), String(leased.receipt.dropLast())] {
            #expect(throws: KeyspaceError.self) { try ack(malformed, in: "q") }
        }
        // A malformed receipt in a batch refuses the whole batch: nothing is acknowledged.
        #expect(throws: KeyspaceError.self) { try ack(leased.receipt, "nope", in: "q") }
        #expect(try ack(leased.receipt, forged, in: "q") == [.acknowledged, .unknown])
        #expect(try info("r").visible == 1)
    }

    @Test func theLastAllowedLeaseSendsTheMessageToTheDeadLetterQueueWithItsAttempts() throws {
        _ = try keyspace.setPolicy(
            QueuePolicy(visibility: .seconds(2), maxReceives: 2, deadLetter: Key("dead")), of: Key("q"))
        try push("poison", to: "q")
        try push("fine", to: "q")
        #expect(try receive("q").first?.queued.attempts == 1)
        advance(by: .seconds(2))
        let second = try #require(try receive("q").first)
        #expect(second.queued.attempts == 2)
        // Released (or expired), the second lease was the last one allowed.
        _ = try keyspace.changeVisibility(of: second.receipt, in: Key("q"), to: .zero)
        #expect(try info("q") == QueueInfo(length: 1, consumers: 0))
        let dead = try #require(try receive("dead").first)
        #expect(texts([dead]) == ["poison"])
        #expect(dead.queued.attempts == 3)
        #expect(dead.queued.id == second.queued.id)
        #expect(try ack(second.receipt, in: "q") == [.expired])
        #expect(keyspace.isConsistent)
    }

    @Test func aPolicyOutlivesItsEmptyQueueUntilReset() throws {
        let policy = QueuePolicy(visibility: .seconds(7), maxReceives: 3, deadLetter: try Key("dead"))
        #expect(try keyspace.setPolicy(policy, of: Key("q")) == policy)
        try push("m", to: "q")
        #expect(try pop("q") == "m")
        #expect(keyspace.count == 0)
        #expect(try keyspace.policy(of: Key("q")) == policy)
        try push("n", to: "q")
        #expect(try receive("q").first?.visibleUntil == clock.now() + .seconds(7))
        #expect(try keyspace.setPolicy(nil, of: Key("q")) == .standard)
        #expect(try keyspace.policy(of: Key("q")).visibility == .seconds(30))
        #expect(throws: KeyspaceError.self) {
            try keyspace.setPolicy(QueuePolicy(maxReceives: 3), of: Key("q"))
        }
        #expect(throws: KeyspaceError.self) {
            try keyspace.setPolicy(QueuePolicy(maxReceives: 3, deadLetter: Key("q")), of: Key("q"))
        }
        _ = try keyspace.setValue(Self.text("s"), forKey: Key("s"), timeToLive: nil, condition: .always)
        #expect(throws: KeyspaceError.wrongType(key: try Key("s"), actual: .string)) {
            try keyspace.setPolicy(QueuePolicy(), of: Key("s"))
        }
    }

    @Test func aDelayedMessageIsStoredAtOnceAndJoinsTheTailWhenDue() throws {
        try push("later", to: "q", delay: .seconds(10))
        try push("now", to: "q")
        #expect(try info("q") == QueueInfo(length: 2, consumers: 0, visible: 1, inFlight: 0, delayed: 1))
        #expect(try pop("q") == "now")
        #expect(try pop("q") == nil)
        #expect(keyspace.count == 1)
        try push("after", to: "q")
        advance(by: .milliseconds(9999))
        #expect(try info("q").delayed == 1)
        advance(by: .milliseconds(1))
        #expect(try (0..<2).compactMap { _ in try pop("q") } == ["after", "later"])
        #expect(throws: KeyspaceError.self) { try push("x", to: "q", delay: .seconds(2_592_001)) }
        #expect(keyspace.isConsistent)
    }

    @Test func popsAndReceivesWaitInOneLineAndAreServedWhenAMessageBecomesVisible() throws {
        let popper = TestReceiver("popper")
        let receiver = TestReceiver("receiver")
        let mover = TestReceiver("mover")
        #expect(try isWaiting(popper, .pop, on: "q"))
        #expect(try isWaiting(receiver, .receive(visibility: .seconds(3), limit: 5), on: "q"))
        #expect(try isWaiting(mover, .move(to: Key("done")), on: "q"))
        #expect(try info("q").consumers == 3)
        try push("one", to: "q", delay: .seconds(1))
        try push("two", to: "q", delay: .seconds(2))
        try push("three", to: "q")
        // Pushed with nobody waiting ahead: the first consumer takes it at once.
        #expect(popper.received.map(\.text) == ["three"])
        advance(by: .seconds(1))
        #expect(receiver.received.map(\.text) == ["one"])
        guard case .received(_, let leased)? = receiver.handovers.first else {
            Issue.record("the receiver got no lease")
            return
        }
        advance(by: .seconds(1))
        #expect(mover.received.map(\.text) == ["two"])
        #expect(try info("done").visible == 1)
        // The lease ends: the message is visible again, then taken by the next waiting pop.
        let late = TestReceiver("late")
        #expect(try isWaiting(late, .pop, on: "q"))
        advance(by: .seconds(2))
        #expect(late.received.map(\.text) == ["one"])
        #expect(try ack(leased[0].receipt, in: "q") == [.expired])
        #expect(keyspace.count == 1)
        #expect(keyspace.isConsistent)
    }

    @Test func aLeaseWhoseConsumerLeftGoesBackWithoutCountingTheAttempt() throws {
        let gone = TestReceiver("gone")
        gone.disconnect()
        let alive = TestReceiver("alive")
        try wait(gone, .receive(visibility: nil, limit: 1), on: "q")
        try wait(alive, .receive(visibility: nil, limit: 1), on: "q")
        try push("m", to: "q")
        guard case .received(_, let messages)? = alive.handovers.first else {
            Issue.record("the second consumer got nothing")
            return
        }
        #expect(messages.first?.queued.attempts == 1)
        try keyspace.giveBack(.received(queue: Key("q"), messages: messages))
        #expect(try receive("q").first?.queued.attempts == 1)
        #expect(keyspace.isConsistent)
    }

    @Test func aMoveTakesTheHeadAndAppendsItToTheDestinationInOneStep() throws {
        try push("a", to: "src")
        try push("b", to: "src")
        try push("z", to: "dst")
        let outcome = try keyspace.consume(
            .move(to: Key("dst")), from: [Key("src")], orWait: nil, waitingAtMost: 0)
        guard case .delivered(.moved(let moved, let destination)) = outcome else {
            Issue.record("nothing moved: \(outcome)")
            return
        }
        #expect(try moved.queue == Key("src") && destination == Key("dst"))
        #expect(try (0..<2).compactMap { _ in try pop("dst") } == ["z", "a"])
        #expect(try info("src").length == 1)
        _ = try keyspace.setValue(Self.text("s"), forKey: Key("string"), timeToLive: nil, condition: .always)
        #expect(throws: KeyspaceError.wrongType(key: try Key("string"), actual: .string)) {
            try keyspace.consume(.move(to: Key("string")), from: [Key("src")], orWait: nil, waitingAtMost: 0)
        }
        #expect(throws: KeyspaceError.self) {
            try keyspace.consume(.move(to: Key("src")), from: [Key("src")], orWait: nil, waitingAtMost: 0)
        }
        #expect(try info("src").length == 1)
        #expect(keyspace.isConsistent)
    }

    @Test func aMessageGoesThroughWaitingMovesToTheirDestinations() throws {
        let first = TestReceiver("a to b")
        let second = TestReceiver("b to c")
        try wait(first, .move(to: Key("b")), on: "a")
        try wait(second, .move(to: Key("c")), on: "b")
        try push("m", to: "a")
        #expect(first.received.map(\.queue) == ["a"])
        #expect(second.received.map(\.queue) == ["b"])
        #expect(try pop("c") == "m")
        #expect(keyspace.count == 0)
        #expect(keyspace.isConsistent)
    }

    @Test func countsAddUpAcrossQueues() throws {
        try push("a", to: "q1")
        try push("b", to: "q1", delay: .seconds(5))
        try push("c", to: "q2")
        _ = try receive("q2")
        #expect(keyspace.messageCounts == MessageCounts(visible: 1, inFlight: 1, delayed: 1))
        #expect(try keyspace.removeQueue(Key("q1")))
        #expect(keyspace.messageCounts == MessageCounts(visible: 0, inFlight: 1, delayed: 0))
        #expect(keyspace.isConsistent)
    }

    @Test func leasesAndDelaysGoWithTheirQueueWhenItExpires() throws {
        try push("a", to: "q")
        try push("b", to: "q", delay: .seconds(30))
        let leased = try #require(try receive("q", visibility: .seconds(20)).first)
        #expect(try keyspace.setTimeToLive(.seconds(10), forKey: Key("q")))
        advance(by: .seconds(10))
        #expect(keyspace.count == 0)
        #expect(keyspace.messageCounts == MessageCounts())
        #expect(try ack(leased.receipt, in: "q") == [.expired])
        advance(by: .seconds(30))
        #expect(keyspace.isConsistent)
    }

    @Test func eventsTellLeasesAcknowledgementsReleasesAndDeadLetters() throws {
        _ = try keyspace.setPolicy(
            QueuePolicy(visibility: .seconds(1), maxReceives: 2, deadLetter: Key("dead")), of: Key("q"))
        try push("m", to: "q")
        try push("n", to: "q", delay: .seconds(2))
        let first = try #require(try receive("q").first)
        _ = try keyspace.changeVisibility(of: first.receipt, in: Key("q"), to: .zero)
        _ = try receive("q", limit: 1)
        advance(by: .seconds(1))
        advance(by: .seconds(1))
        let last = try #require(try receive("q").first)
        #expect(try ack(last.receipt, in: "q") == [.acknowledged])
        let events = keyspace.events(after: EventPosition(id: 0), matching: EventFilter(), limit: 100).events
        #expect(
            events.map { "\($0.type.rawValue)\($0.reason.map { "(\($0.rawValue))" } ?? "") \($0.key)" } == [
                "policy q", "push q", "push q", "lease q", "release(released) q", "lease q",
                "deadletter q", "push dead", "release(delayed) q", "lease q", "ack q", "del q",
            ])
    }

    /// Registers `receiver` for `consumption` on `queue`.
    @discardableResult
    func wait(_ receiver: TestReceiver, _ consumption: Consumption, on queue: String) throws -> ConsumeOutcome
    {
        try keyspace.consume(consumption, from: [Key(queue)], orWait: receiver, waitingAtMost: .max)
    }

    /// Registers `receiver` like `wait`; whether it now waits.
    func isWaiting(_ receiver: TestReceiver, _ consumption: Consumption, on queue: String) throws -> Bool {
        guard case .waiting = try wait(receiver, consumption, on: queue) else { return false }
        return true
    }
}
