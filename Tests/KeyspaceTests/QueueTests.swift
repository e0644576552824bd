import KeygateTestSupport
import Keyspace
import Testing

/// A consumer for engine tests: claimable until claimed or cancelled; records what it gets.
final class TestReceiver: MessageReceiver {
    private struct State {
        var isClaimable = true
        var isConnected = true
        var received: [(queue: String, text: String)] = []
        var handovers: [Handover] = []
    }

    let name: String
    private let state = TestLock(State())

    init(_ name: String) {
        self.name = name
    }

    /// Makes the receiver unclaimable, as a parked request that timed out.
    func timeOut() {
        state.withLock { $0.isClaimable = false }
    }

    /// Makes deliveries fail, as a consumer whose client left.
    func disconnect() {
        state.withLock { $0.isConnected = false }
    }

    var received: [(queue: String, text: String)] {
        state.withLock { $0.received }
    }

    func claim() -> Bool {
        state.withLock { state in
            guard state.isClaimable else { return false }
            state.isClaimable = false
            return true
        }
    }

    /// Everything handed over, as it came.
    var handovers: [Handover] {
        state.withLock { $0.handovers }
    }

    func deliver(_ handover: Handover, durableAfter ticket: DurabilityTicket?) -> Bool {
        state.withLock { state in
            guard state.isConnected else { return false }
            state.handovers.append(handover)
            switch handover {
            case .popped(let popped), .moved(let popped, _):
                state.received.append(
                    (popped.queue.text, String(decoding: popped.message.bytes, as: UTF8.self)))
            case .received(let queue, let messages):
                for message in messages {
                    state.received.append(
                        (queue.text, String(decoding: message.queued.message.bytes, as: UTF8.self)))
                }
            case .failed:
                break
            }
            return true
        }
    }
}

@Suite("Queues in the keyspace engine")
struct QueueTests {
    let clock = ManualClock()
    let keyspace: KeyspaceEngine

    init() {
        keyspace = KeyspaceEngine(clock: clock)
    }

    @discardableResult
    func push(_ text: String, to queue: String) throws -> PushOutcome {
        try keyspace.push(Payload(bytes: Array(text.utf8), contentType: "text/plain"), to: Key(queue))
    }

    func pop(_ queues: String...) throws -> (queue: String, text: String)? {
        guard let popped = try keyspace.pop(from: queues.map(Key.init)) else { return nil }
        return (popped.queue.text, String(decoding: popped.message.bytes, as: UTF8.self))
    }

    func wait(_ receiver: TestReceiver, on queues: String..., waitingAtMost limit: Int = .max) throws
        -> ConsumeOutcome
    {
        try keyspace.consume(.pop, from: queues.map(Key.init), orWait: receiver, waitingAtMost: limit)
    }

    /// Pushes a message; the engine hands it to a waiting receiver, or to the next one, or
    /// stores it, by itself.
    func pushAndDeliver(_ text: String, to queue: String) throws {
        try push(text, to: queue)
    }

    @Test func popsInArrivalOrderAndRemovesAnEmptyQueue() throws {
        for index in 1...5 {
            guard case .stored(let length) = try push("m\(index)", to: "q") else {
                Issue.record("expected a stored message")
                return
            }
            #expect(length == index)
        }
        #expect(try keyspace.queueInfo(Key("q")) == QueueInfo(length: 5, consumers: 0))
        for index in 1...5 {
            #expect(try pop("q")?.text == "m\(index)")
        }
        #expect(try pop("q") == nil)
        #expect(keyspace.count == 0)
        #expect(try keyspace.queueInfo(Key("q")) == QueueInfo(length: 0, consumers: 0))
        #expect(keyspace.isConsistent)
    }

    @Test func takesFromTheFirstNonEmptyQueueInTheOrderGiven() throws {
        try push("b1", to: "b")
        try push("c1", to: "c")
        try push("b2", to: "b")
        #expect(try pop("a", "b", "c")! == ("b", "b1"))
        #expect(try pop("c", "b")! == ("c", "c1"))
        #expect(try pop("a", "b", "c")! == ("b", "b2"))
        #expect(try pop("a", "b", "c") == nil)
    }

    @Test func servesWaitingConsumersFirstComeFirstServed() throws {
        let receivers = (1...6).map { TestReceiver("r\($0)") }
        for receiver in receivers {
            guard case .waiting = try wait(receiver, on: "q") else {
                Issue.record("expected to wait")
                return
            }
        }
        #expect(try keyspace.queueInfo(Key("q")).consumers == 6)
        for index in 1...6 {
            try pushAndDeliver("m\(index)", to: "q")
        }
        for (index, receiver) in receivers.enumerated() {
            #expect(receiver.received.map(\.text) == ["m\(index + 1)"])
        }
        #expect(try keyspace.queueInfo(Key("q")) == QueueInfo(length: 0, consumers: 0))
        try push("stored", to: "q")
        #expect(try pop("q")?.text == "stored")
        #expect(keyspace.isConsistent)
    }

    @Test func aConsumerOnTwoQueuesIsServedOnce() throws {
        let both = TestReceiver("both")
        let later = TestReceiver("later")
        _ = try wait(both, on: "a", "b")
        _ = try wait(later, on: "b")
        #expect(try keyspace.queueInfo(Key("b")).consumers == 2)
        try pushAndDeliver("to a", to: "a")
        #expect(both.received.map(\.queue) == ["a"])
        #expect(try keyspace.queueInfo(Key("b")).consumers == 1)
        try pushAndDeliver("to b", to: "b")
        #expect(both.received.count == 1)
        #expect(later.received.map(\.text) == ["to b"])
        #expect(keyspace.waitingCount == 0)
        #expect(keyspace.isConsistent)
    }

    @Test func aConsumerThatTimedOutIsSkippedAndForgotten() throws {
        let early = TestReceiver("early")
        let late = TestReceiver("late")
        _ = try wait(early, on: "q")
        _ = try wait(late, on: "q")
        early.timeOut()
        keyspace.cancelWait(early)
        #expect(try keyspace.queueInfo(Key("q")).consumers == 1)
        try pushAndDeliver("m", to: "q")
        #expect(early.received.isEmpty)
        #expect(late.received.map(\.text) == ["m"])
        // A consumer that timed out but was not cancelled yet is skipped at claim time.
        let unclaimable = TestReceiver("unclaimable")
        _ = try wait(unclaimable, on: "q")
        unclaimable.timeOut()
        try pushAndDeliver("kept", to: "q")
        #expect(try pop("q")?.text == "kept")
        #expect(keyspace.isConsistent)
    }

    @Test func aMessageForAConsumerThatLeftGoesToTheNextOrBackToTheHead() throws {
        let gone = TestReceiver("gone")
        let alive = TestReceiver("alive")
        _ = try wait(gone, on: "q")
        _ = try wait(alive, on: "q")
        gone.disconnect()
        try pushAndDeliver("first", to: "q")
        #expect(alive.received.map(\.text) == ["first"])

        let goneToo = TestReceiver("gone too")
        _ = try wait(goneToo, on: "q")
        goneToo.disconnect()
        try pushAndDeliver("second", to: "q")
        try push("third", to: "q")
        #expect(try pop("q")?.text == "second")
        #expect(try pop("q")?.text == "third")
    }

    @Test func aPopWithAConsumerTakesAWaitingMessageOnlyIfItCanClaimIt() throws {
        try push("m", to: "q")
        let timedOut = TestReceiver("timed out")
        timedOut.timeOut()
        guard case .gone = try wait(timedOut, on: "q") else {
            Issue.record("expected .gone")
            return
        }
        #expect(try keyspace.queueInfo(Key("q")).length == 1)
        guard case .delivered(.popped(let popped)) = try wait(TestReceiver("ok"), on: "q") else {
            Issue.record("expected a message")
            return
        }
        #expect(popped.message.bytes == Array("m".utf8))
    }

    @Test func waitersPileUpNoGarbageWhenTheyAllTimeOut() throws {
        for index in 0..<1000 {
            let receiver = TestReceiver("r\(index)")
            _ = try wait(receiver, on: "a", "b")
            receiver.timeOut()
            keyspace.cancelWait(receiver)
        }
        #expect(keyspace.waitingCount == 0)
        #expect(try keyspace.queueInfo(Key("a")).consumers == 0)
        #expect(keyspace.isConsistent)
    }

    @Test func aQueueWithAsManyConsumersWaitingAsAllowedRefusesOneMoreUntilOneLeaves() throws {
        let first = TestReceiver("first")
        _ = try wait(first, on: "q", waitingAtMost: 2)
        _ = try wait(TestReceiver("second"), on: "q", waitingAtMost: 2)
        let refused = TestReceiver("refused")
        #expect(throws: KeyspaceError.tooManyWaiting(queue: try Key("q"), limit: 2)) {
            _ = try wait(refused, on: "other", "q", waitingAtMost: 2)
        }
        // Refused before anything is registered: not even on the queue that had room.
        #expect(try keyspace.queueInfo(Key("other")).consumers == 0)
        #expect(keyspace.waitingCount == 2)
        first.timeOut()
        keyspace.cancelWait(first)
        guard case .waiting = try wait(refused, on: "other", "q", waitingAtMost: 2) else {
            Issue.record("expected the consumer to wait once one left")
            return
        }
        #expect(keyspace.isConsistent)
    }

    @Test func stringsAndQueuesAreNotInterchangeable() throws {
        _ = try keyspace.setValue(Payload(bytes: [1]), forKey: Key("s"), timeToLive: nil, condition: .always)
        try push("m", to: "q")
        #expect(throws: KeyspaceError.wrongType(key: try Key("s"), actual: .string)) {
            try push("m", to: "s")
        }
        #expect(throws: KeyspaceError.self) { try pop("q", "s") }
        #expect(throws: KeyspaceError.self) { try keyspace.peek(Key("s"), limit: 1) }
        #expect(throws: KeyspaceError.self) { try keyspace.removeQueue(Key("s")) }
        #expect(throws: KeyspaceError.self) { try keyspace.value(forKey: Key("q")) }
        #expect(throws: KeyspaceError.self) {
            try keyspace.setValue(Payload(bytes: [1]), forKey: Key("q"), timeToLive: nil, condition: .always)
        }
        #expect(throws: KeyspaceError.self) { try keyspace.removeValue(forKey: Key("q"), condition: .always) }
        #expect(try keyspace.queueInfo(Key("q")).length == 1)
    }

    @Test func peeksWithoutRemoving() throws {
        for index in 1...5 {
            try push("m\(index)", to: "q")
        }
        #expect(
            try keyspace.peek(Key("q"), limit: 3).map { String(decoding: $0.message.bytes, as: UTF8.self) }
                == [
                    "m1", "m2", "m3",
                ])
        #expect(try keyspace.peek(Key("absent"), limit: 3).isEmpty)
        #expect(try keyspace.queueInfo(Key("q")).length == 5)
    }

    @Test func listsQueuesWithTheirLengthAndBytes() throws {
        try push("abc", to: "q")
        try push("de", to: "q")
        let page = keyspace.keys(prefix: [], after: nil, limit: 10)
        #expect(
            page.keys == [
                KeyInfo(key: try Key("q"), type: .queue, timeToLive: .persistent, bytes: 5, length: 2)
            ])
    }

    @Test func aQueueExpiresWithItsMessages() throws {
        try push("m", to: "q")
        #expect(try keyspace.setTimeToLive(.seconds(1), forKey: Key("q")))
        try push("n", to: "q")
        #expect(try keyspace.timeToLive(forKey: Key("q")) == .remaining(.seconds(1)))
        clock.advance(by: .seconds(1))
        #expect(try pop("q") == nil)
        #expect(keyspace.isConsistent)
    }

    @Test func deletingAQueueKeepsItsConsumersWaiting() throws {
        try push("m", to: "q")
        #expect(try keyspace.removeQueue(Key("q")))
        #expect(try !keyspace.removeQueue(Key("q")))
        let receiver = TestReceiver("r")
        _ = try wait(receiver, on: "q")
        try pushAndDeliver("after", to: "q")
        #expect(receiver.received.map(\.text) == ["after"])
    }
}
