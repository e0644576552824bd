import Keyspace
import Testing

@testable import NATSEngine

@Suite struct LeaseBookTests {
    let now = Timestamp(milliseconds: 1_000_000)

    func lease(_ message: UInt64, delivery: UInt64, count: UInt64) -> LeaseReference {
        LeaseReference(message: message, lease: LeaseNotice.lease(delivery: delivery, count: count))
    }

    func later(_ milliseconds: Int64) -> Timestamp {
        Timestamp(milliseconds: now.milliseconds + milliseconds)
    }

    @Test func aLeaseRunsUntilItsEndThenIsOver() throws {
        let book = LeaseBook()
        let queue = try Key("jobs")
        let first = lease(7, delivery: 3, count: 1)
        #expect(book.standing(of: first, in: queue, now: now) == .unknown)
        book.apply(LeaseNotice(first, .granted(until: later(500))), in: queue, now: now)
        #expect(book.standing(of: first, in: queue, now: later(499)) == .current)
        #expect(book.isLeased(7, in: queue, now: later(499)))
        #expect(book.standing(of: first, in: queue, now: later(500)) == .ended)
        #expect(book.endedUnacknowledged(in: queue, now: later(500)) == 1)
        #expect(book.standing(of: first, in: try Key("other"), now: now) == .unknown)
    }

    @Test func aLaterDeliveryEndsTheEarlierReceiptAndAnOldNoticeChangesNothing() throws {
        let book = LeaseBook()
        let queue = try Key("jobs")
        let first = lease(7, delivery: 3, count: 1)
        let second = lease(7, delivery: 9, count: 2)
        book.apply(LeaseNotice(second, .granted(until: later(1000))), in: queue, now: now)
        // The first lease's notice comes late, from another gateway: the second stands.
        book.apply(LeaseNotice(first, .granted(until: later(5000))), in: queue, now: now)
        #expect(book.standing(of: first, in: queue, now: now) == .ended)
        #expect(book.standing(of: second, in: queue, now: now) == .current)
        #expect(book.change(of: first, in: queue) == nil)
        #expect(book.change(of: second, in: queue) == .granted(until: later(1000)))
    }

    @Test func releasedAndAcknowledgedLeasesStayEnded() throws {
        let book = LeaseBook()
        let queue = try Key("jobs")
        let released = lease(1, delivery: 1, count: 1)
        let acknowledged = lease(2, delivery: 2, count: 1)
        for reference in [released, acknowledged] {
            book.apply(LeaseNotice(reference, .granted(until: later(1000))), in: queue, now: now)
        }
        book.apply(LeaseNotice(released, .released), in: queue, now: now)
        book.apply(LeaseNotice(acknowledged, .acknowledged), in: queue, now: now)
        // An extension that crossed the release on its way changes nothing.
        book.apply(LeaseNotice(released, .granted(until: later(9000))), in: queue, now: now)
        #expect(book.standing(of: released, in: queue, now: now) == .ended)
        #expect(book.standing(of: acknowledged, in: queue, now: now) == .ended)
        #expect(book.endedUnacknowledged(in: queue, now: now) == 1, "the released one; the other is gone")
        #expect(!book.isLeased(1, in: queue, now: now))
    }

    @Test func anExtensionMovesTheEnd() throws {
        let book = LeaseBook()
        let queue = try Key("jobs")
        let reference = lease(4, delivery: 4, count: 1)
        book.apply(LeaseNotice(reference, .granted(until: later(100))), in: queue, now: now)
        book.apply(LeaseNotice(reference, .granted(until: later(60_000))), in: queue, now: later(50))
        #expect(book.standing(of: reference, in: queue, now: later(59_999)) == .current)
    }

    @Test func entriesAreForgottenLongAfterTheirEnd() throws {
        let book = LeaseBook()
        let queue = try Key("jobs")
        let old = lease(1, delivery: 1, count: 1)
        book.apply(LeaseNotice(old, .granted(until: later(100))), in: queue, now: now)
        // Two minutes and more past its end, the next notice prunes it: unknown, left to JetStream.
        book.apply(LeaseNotice(lease(2, delivery: 2, count: 1), .released), in: queue, now: later(200_000))
        #expect(book.standing(of: old, in: queue, now: later(200_000)) == .unknown)
    }

    @Test func noticesReadBackAsWritten() throws {
        let reference = lease(12, delivery: 40, count: 3)
        for change in [LeaseNotice.Change.granted(until: later(5)), .released, .acknowledged] {
            let notice = LeaseNotice(reference, change)
            #expect(LeaseNotice(notice.bytes) == notice)
        }
        #expect(LeaseNotice(Array("g 12 40".utf8)) == nil)
        #expect(LeaseNotice(Array("x 12 40".utf8)) == nil)
        #expect(LeaseNotice(Array("a 12".utf8)) == nil)
        #expect(LeaseNotice.delivery(of: reference) == 40 && LeaseNotice.deliveries(of: reference) == 3)
    }
}
