import Keyspace
import Testing

@testable import NATSEngine

@Suite struct AheadExpirationsTests {
    private static func expired(_ record: UInt64) throws -> KeyspaceEvent {
        var event = KeyspaceEvent(
            id: 0, type: .expired, key: try Key("k\(record)"), time: Timestamp(milliseconds: 1))
        event.record = record
        return event
    }

    @Test func entriesAreReadInTheOrderToldUntilTheirCopiesComeBack() throws {
        let ahead = AheadExpirations(capacity: 10)
        for record: UInt64 in [30, 10, 20] {
            ahead.tell(try Self.expired(record), madeAt: record + 1)
        }
        ahead.tell(try Self.expired(10), madeAt: 11)
        var (entries, cursor) = ahead.entries(after: 0, limit: 10)
        #expect(entries.map(\.event.record) == [30, 10, 20], "told once")
        #expect(entries.map(\.madeAt) == [31, 11, 21])
        #expect(cursor == 3)
        ahead.copyArrived(record: 10)
        (entries, _) = ahead.entries(after: 0, limit: 10)
        #expect(entries.map(\.event.record) == [30, 20])
        ahead.tell(try Self.expired(40), madeAt: 41)
        (entries, cursor) = ahead.entries(after: cursor, limit: 10)
        #expect(entries.map(\.event.record) == [40] && cursor == 4)
        (entries, cursor) = ahead.entries(after: 0, limit: 1)
        #expect(entries.map(\.event.record) == [30] && cursor == 1)
    }

    @Test func theOldestAreDroppedPastTheCapacityAndOnceBack() throws {
        let ahead = AheadExpirations(capacity: 2)
        for record: UInt64 in 1...3 {
            ahead.tell(try Self.expired(record), madeAt: 1)
        }
        var (entries, _) = ahead.entries(after: 0, limit: 10)
        #expect(entries.map(\.event.record) == [2, 3])
        ahead.copyArrived(record: 1)
        ahead.copyArrived(record: 3)
        ahead.copyArrived(record: 2)
        (entries, _) = ahead.entries(after: 0, limit: 10)
        #expect(entries.isEmpty)
    }
}
