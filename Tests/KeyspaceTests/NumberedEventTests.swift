import Dispatch
import KeygateTestSupport
import Testing

@testable import Keyspace

/// The event history fed with ids given elsewhere, as a NATS cluster's event stream numbers
/// them (`EventLog.append(_:)`).
@Suite("Events numbered elsewhere")
struct NumberedEventTests {
    private static func event(_ id: UInt64) throws -> KeyspaceEvent {
        KeyspaceEvent(
            id: id, type: .set, key: try Key("k\(id)"), time: Timestamp(milliseconds: 1000 + Int64(id)))
    }

    @Test func anEventTheHistoryHasIsIgnoredNotATrap() throws {
        let log = EventLog(capacity: 10)
        #expect(log.append(try Self.event(1)))
        #expect(log.append(try Self.event(2)))
        // A feed that started again after a reconnection delivers what it delivered.
        #expect(!log.append(try Self.event(2)))
        #expect(!log.append(try Self.event(1)))
        let batch = log.events(after: 0, matching: EventFilter(), limit: 10)
        #expect(batch.events.map(\.id) == [1, 2])
        #expect(batch.lost == nil)
        #expect(log.lastID == 2)
    }

    @Test func anIdPastTheNextRestartsTheHistoryAfterAGap() throws {
        let log = EventLog(capacity: 10)
        log.resume(after: 4)
        #expect(log.append(try Self.event(5)))
        #expect(log.append(try Self.event(9)))
        let batch = log.events(after: 5, matching: EventFilter(), limit: 10)
        #expect(batch.lost == 6...8)
        #expect(batch.events.map(\.id) == [9])
    }

    @Test func eventsToldAheadWakeOnlyTheSubscribersThatWantThem() throws {
        let log = EventLog(capacity: 10)
        log.start()
        defer { log.stop() }
        let expiries = CountingSubscriber()
        let writes = CountingSubscriber()
        log.subscribe(expiries, filter: EventFilter(types: [.expired]))
        log.subscribe(writes, filter: EventFilter(types: [.set]))
        log.notify(ahead: [
            KeyspaceEvent(id: 0, type: .expired, key: try Key("k"), time: Timestamp(milliseconds: 1))
        ])
        #expect(expiries.wakeUps.wait(timeout: .now() + 5) == .success)
        #expect(writes.wakeUps.wait(timeout: .now() + 0.05) == .timedOut)
        #expect(writes.skipped.withLock { $0 }.isEmpty, "no event of the history went by")
    }
}
