import Testing

@testable import Keyspace

/// The keyspace as a value: what each mutation records, tested without an engine, a clock or
/// threads.
@Suite("The keyspace state")
struct KeyspaceStateTests {
    static let start = Timestamp(milliseconds: 1_000_000)

    static func text(_ value: String) -> Payload {
        Payload(bytes: Array(value.utf8), contentType: "text/plain")
    }

    /// Takes every change `state` recorded so far, oldest first.
    static func changes(_ state: inout KeyspaceState) -> [KeyspaceChange] {
        var taken: [KeyspaceChange] = []
        while let change = state.takeChange() {
            taken.append(change)
        }
        return taken
    }

    @Test func everyWriteRecordsOneChangeNamingWhatChanged() throws {
        var state = KeyspaceState()
        let key = try Key("k")
        let deadline = Self.start + .seconds(10)
        _ = try state.write(Self.text("one"), forKey: key, deadline: nil, condition: .always, now: Self.start)
        #expect(
            Self.changes(&state) == [
                .set(key: key, value: Self.text("one"), version: Version(1), deadline: nil)
            ])
        _ = try state.write(
            Self.text("two"), forKey: key, deadline: deadline, condition: .always, now: Self.start)
        #expect(
            Self.changes(&state) == [
                .set(key: key, value: Self.text("two"), version: Version(2), deadline: deadline)
            ])
        let wasPersisted = state.setDeadline(nil, forKey: key, now: Self.start)
        #expect(wasPersisted)
        #expect(Self.changes(&state) == [.deadline(key: key, deadline: nil, hadDeadline: true)])
        let wasFound = state.setDeadline(nil, forKey: key, now: Self.start)
        #expect(wasFound)
        #expect(Self.changes(&state) == [.deadline(key: key, deadline: nil, hadDeadline: false)])
        let wasDeleted = try state.delete(key, ofType: .string, condition: .always, now: Self.start)
        #expect(wasDeleted)
        #expect(Self.changes(&state) == [.delete(key: key)])
        let wasDeletedAgain = try state.delete(key, ofType: .string, condition: .always, now: Self.start)
        #expect(!wasDeletedAgain)
        #expect(Self.changes(&state) == [])
        #expect(state.isConsistent)
    }

    @Test func aKeyFoundPastItsDeadlineRecordsItsExpiryBeforeTheChangeThatFoundIt() throws {
        var state = KeyspaceState()
        let key = try Key("k")
        let deadline = Self.start + .milliseconds(100)
        _ = try state.write(
            Self.text("v"), forKey: key, deadline: deadline, condition: .always, now: Self.start)
        _ = Self.changes(&state)
        let later = Self.start + .milliseconds(350)
        // A refused write still removed what it found expired.
        #expect(throws: KeyspaceError.conditionFailed(key: key)) {
            try state.write(Self.text("w"), forKey: key, deadline: nil, condition: .ifPresent, now: later)
        }
        #expect(Self.changes(&state) == [.expire(key: key, lateness: 250)])
        _ = try state.write(
            Self.text("v"), forKey: key, deadline: deadline, condition: .always, now: Self.start)
        _ = try state.write(Self.text("w"), forKey: key, deadline: nil, condition: .always, now: later)
        #expect(
            Self.changes(&state) == [
                .set(key: key, value: Self.text("v"), version: Version(2), deadline: deadline),
                .expire(key: key, lateness: 250),
                .set(key: key, value: Self.text("w"), version: Version(3), deadline: nil),
            ])
        #expect(state.isConsistent)
    }

    @Test func anExpiryPassRecordsEachKeyEarliestFirstAndTheListEmptiesAfter() throws {
        var state = KeyspaceState()
        for (name, milliseconds) in [("b", 30), ("a", 10), ("c", 20)] {
            _ = try state.write(
                Self.text(name), forKey: Key(name), deadline: Self.start + .milliseconds(milliseconds),
                condition: .always, now: Self.start)
        }
        _ = Self.changes(&state)
        let pass = state.expireDue(now: Self.start + .milliseconds(25), limit: 10)
        #expect(pass.expired == [try Key("a"), try Key("c")])
        #expect(pass.nextDeadline == Self.start + .milliseconds(30))
        #expect(state.expirerWakeup == pass.nextDeadline)
        #expect(
            Self.changes(&state) == [
                .expire(key: try Key("a"), lateness: 15), .expire(key: try Key("c"), lateness: 5),
            ])
        let wasDeleted = try state.delete(Key("b"), ofType: .string, condition: .always, now: Self.start)
        #expect(wasDeleted)
        #expect(Self.changes(&state) == [.delete(key: try Key("b"))])
        #expect(state.isConsistent)
    }

    @Test func queuesRecordPushesPopsAndTheHandOffToAWaitingConsumer() throws {
        var state = KeyspaceState()
        let queue = try Key("q")
        _ = try state.push(Self.text("1"), to: queue, delay: nil, now: Self.start)
        _ = try state.push(Self.text("2"), to: queue, delay: nil, now: Self.start)
        let first = QueueMessage(
            id: 1, place: 1, payload: Self.text("1"), enqueuedAt: Self.start, attempts: 0)
        let second = QueueMessage(
            id: 3, place: 3, payload: Self.text("2"), enqueuedAt: Self.start, attempts: 0)
        #expect(
            Self.changes(&state) == [
                .push(queue: queue, message: first, created: Version(2), until: nil),
                .push(queue: queue, message: second, created: nil, until: nil),
            ])
        let popped = try Self.pop(queue, from: &state)
        #expect(popped == .popped(queue: queue, message: first))
        state.putBack(popped, now: Self.start)
        _ = try Self.pop(queue, from: &state)
        _ = try Self.pop(queue, from: &state)
        #expect(
            Self.changes(&state) == [
                .pop(queue: queue, emptied: false),
                .push(queue: queue, message: first, created: nil, until: nil),
                .pop(queue: queue, emptied: false),
                .pop(queue: queue, emptied: true),
            ])
        let consumer = TestReceiver("consumer")
        let outcome = try state.consume(
            .pop, from: [queue], registering: consumer, waitingAtMost: .max, now: Self.start)
        guard case .waiting = outcome else {
            Issue.record("the consumer does not wait but got \(outcome)")
            return
        }
        #expect(Self.changes(&state) == [])
        #expect(try state.push(Self.text("3"), to: queue, delay: nil, now: Self.start) == .handed(length: 0))
        let handOffs = state.takeHandOffs()
        #expect(handOffs.count == 1 && handOffs.first?.receiver === consumer)
        #expect(Self.changes(&state) == [.handOff(queue: queue)])
        #expect(state.count == 0)
        #expect(state.isConsistent)
    }

    /// Pops the head of `queue` from `state`, as a consumer not waiting.
    static func pop(_ queue: Key, from state: inout KeyspaceState) throws -> Handed {
        guard
            case .handed(let handed) = try state.consume(
                .pop, from: [queue], registering: nil, waitingAtMost: .max, now: start)
        else { throw KeyspaceError.invalidCursor }
        return handed
    }

    @Test func aConsumerWaitsOnceOnEachOfItsQueuesUntilClaimedOrCancelled() throws {
        var state = KeyspaceState()
        let (a, b) = (try Key("a"), try Key("b"))
        let first = TestReceiver("first")
        let second = TestReceiver("second")
        _ = try state.consume(.pop, from: [a, b], registering: first, waitingAtMost: .max, now: Self.start)
        // Registering again replaces the first registration instead of adding a second.
        _ = try state.consume(.pop, from: [b, a], registering: first, waitingAtMost: .max, now: Self.start)
        _ = try state.consume(.pop, from: [b], registering: second, waitingAtMost: .max, now: Self.start)
        #expect(state.waitingCount == 2)
        #expect((state.waitingCount(on: a), state.waitingCount(on: b)) == (1, 2))
        #expect(state.isConsistent)
        // Claimed through `a`, the first consumer leaves `b` too, where the second is next.
        _ = try state.push(Self.text("1"), to: a, delay: nil, now: Self.start)
        #expect(state.takeHandOffs().first?.receiver === first)
        #expect((state.waitingCount(on: a), state.waitingCount(on: b)) == (0, 1))
        #expect(state.isConsistent)
        state.cancelWait(second)
        #expect(state.waitingCount == 0)
        #expect(state.waitersByQueue.isEmpty)
        #expect(try state.push(Self.text("2"), to: b, delay: nil, now: Self.start) == .stored(length: 1))
        #expect(state.takeHandOffs().isEmpty)
        #expect(state.isConsistent)
    }
}
