import Keyspace
import Testing

@testable import NATSEngine

@Suite struct KeyIndexTests {
    let now = Timestamp(milliseconds: 1_000_000)
    let standInDelay = Duration.seconds(1)

    func record(
        _ kind: Record.Kind, sequence: UInt64, expiringIn milliseconds: Int64? = nil, writer: String? = nil
    ) -> Record {
        let deadline = milliseconds.map { Timestamp(milliseconds: now.milliseconds + $0) }
        var headers = Record.headers(kind, at: now, deadline: deadline, expected: 0)
        headers[Record.Field.writer] = writer
        return Record(sequence: sequence, headers: headers, body: [])!
    }

    @Test func laterRecordsWinAndDeletionsRemove() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        let key = try Key("k")
        index.apply(record(.string, sequence: 5), key: key, fromWatch: false)
        index.apply(record(.string, sequence: 3), key: key, fromWatch: true)
        #expect(index.entry(key)?.sequence == 5, "an older record from the watch changes nothing")
        #expect(index.watchedSequence == 3)
        index.apply(record(.deleted, sequence: 6), key: key, fromWatch: true)
        #expect(index.entry(key) == nil)
        #expect(index.stringCount == 0)
    }

    @Test func keysLeaveAtTheirDeadlineEarliestFirst() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        #expect(
            index.apply(record(.string, sequence: 1, expiringIn: 300), key: try Key("late"), fromWatch: false)
        )
        #expect(
            index.apply(
                record(.string, sequence: 2, expiringIn: 100), key: try Key("early"), fromWatch: false)
        )
        #expect(!index.apply(record(.string, sequence: 3), key: try Key("forever"), fromWatch: false))
        var (due, next) = index.takeDue(now: Timestamp(milliseconds: now.milliseconds + 99), limit: 10)
        #expect(due.isEmpty && next == Timestamp(milliseconds: now.milliseconds + 100))
        (due, next) = index.takeDue(now: Timestamp(milliseconds: now.milliseconds + 300), limit: 10)
        #expect(due.map(\.0.text) == ["early", "late"])
        #expect(next == nil)
        #expect(index.stringCount == 1)
    }

    @Test func stringsWrittenElsewhereAreTakenAtTheirDeadlineThenAgainAStandInDelayLater() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        index.apply(
            record(.string, sequence: 1, expiringIn: 100, writer: "there"), key: try Key("theirs"),
            fromWatch: true)
        index.apply(
            record(.queue, sequence: 2, expiringIn: 200, writer: "there"), key: try Key("queue"),
            fromWatch: true)
        index.apply(
            record(.string, sequence: 3, expiringIn: 300, writer: "here"), key: try Key("ours"),
            fromWatch: true)
        var (due, next) = index.takeDue(now: Timestamp(milliseconds: now.milliseconds + 300), limit: 10)
        #expect(due.map(\.0.text) == ["theirs", "queue", "ours"])
        #expect(due.map(\.1.isAwaitingCopy) == [false, false, false], "each at its deadline, told ahead")
        #expect(next == Timestamp(milliseconds: now.milliseconds + 1100))
        #expect(index.entry(try Key("theirs"))?.isAwaitingCopy == true)
        let hidden = index.strings(
            prefix: [], after: nil, limit: 10, now: Timestamp(milliseconds: now.milliseconds + 100))
        #expect(hidden.rows.isEmpty, "a listing hides a key from its deadline, whoever announces it")
        (due, next) = index.takeDue(now: Timestamp(milliseconds: now.milliseconds + 1100), limit: 10)
        #expect(
            due.map(\.0.text) == ["theirs"] && due.first?.1.isAwaitingCopy == true
                && due.first?.1.deadline == Timestamp(milliseconds: now.milliseconds + 100))
        #expect(next == nil)
        #expect(index.entry(try Key("theirs")) == nil)
    }

    @Test func theCopyOfAnExpiryIsNewOnlyBeforeTheDeadlineWasTakenHere() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        let early = try Key("early")
        let taken = try Key("taken")
        index.apply(
            record(.string, sequence: 1, expiringIn: 100, writer: "there"), key: early, fromWatch: true)
        index.apply(
            record(.string, sequence: 2, expiringIn: 100, writer: "there"), key: taken, fromWatch: true)
        #expect(index.forget(early, sequence: 1), "its deadline was not handled here yet")
        _ = index.takeDue(now: Timestamp(milliseconds: now.milliseconds + 100), limit: 10)
        #expect(!index.forget(taken, sequence: 2), "counted at its deadline already")
        #expect(index.entry(taken) == nil)
    }

    @Test func aKeyWrittenAgainOrWhoseCopyCameIsNotStoodInFor() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        let rewritten = try Key("rewritten")
        let confirmed = try Key("confirmed")
        let waiting = try Key("waiting")
        for (sequence, key) in [rewritten, confirmed, waiting].enumerated() {
            index.apply(
                record(.string, sequence: UInt64(sequence + 1), expiringIn: 100, writer: "there"), key: key,
                fromWatch: true)
        }
        let (atDeadline, _) = index.takeDue(now: Timestamp(milliseconds: now.milliseconds + 100), limit: 10)
        #expect(atDeadline.count == 3)
        index.apply(record(.string, sequence: 4, writer: "there"), key: rewritten, fromWatch: true)
        index.forget(confirmed, sequence: 2)
        let (standIns, next) = index.takeDue(now: Timestamp(milliseconds: now.milliseconds + 1100), limit: 10)
        #expect(standIns.map(\.0.text) == ["waiting"] && standIns.first?.1.isAwaitingCopy == true)
        #expect(next == nil && index.entry(rewritten)?.sequence == 4)
    }

    @Test func theEventThatMadeARecordIsNotedOnItsRecordOnly() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        let key = try Key("k")
        index.apply(record(.string, sequence: 7, expiringIn: 100), key: key, fromWatch: true)
        index.noteMade(key, record: 6, at: 40)
        #expect(index.entry(key)?.madeAt == 0, "an older record's event")
        index.noteMade(key, record: 7, at: 42)
        #expect(index.entry(key)?.madeAt == 42)
        index.apply(record(.string, sequence: 8, expiringIn: 100), key: key, fromWatch: true)
        #expect(index.entry(key)?.madeAt == 0, "a new record waits for its own event")
    }

    @Test func anAnnouncedExpiryDropsOnlyTheRecordItNames() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        let key = try Key("k")
        index.apply(record(.string, sequence: 7, expiringIn: 100), key: key, fromWatch: true)
        index.forget(key, sequence: 6)
        #expect(index.entry(key)?.sequence == 7, "the expiry of an older record leaves the newer one")
        index.forget(key, sequence: 7)
        #expect(index.entry(key) == nil && index.stringCount == 0)
        let (due, next) = index.takeDue(now: Timestamp(milliseconds: now.milliseconds + 1100), limit: 10)
        #expect(due.isEmpty && next == nil, "nothing is left for the expirer to announce")
        #expect(!index.forget(key, sequence: 7), "forgotten once")
    }

    @Test func listingsAreInByteOrderAfterTheCursorWithoutExpiredKeys() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        for (number, text) in ["b", "a/2", "a/1", "a/3", "c"].enumerated() {
            index.apply(record(.string, sequence: UInt64(number + 1)), key: try Key(text), fromWatch: true)
        }
        index.apply(record(.string, sequence: 9, expiringIn: 10), key: try Key("a/0"), fromWatch: true)
        index.apply(record(.queue, sequence: 10, expiringIn: 1000), key: try Key("a/q"), fromWatch: true)
        let later = Timestamp(milliseconds: now.milliseconds + 10)
        let first = index.strings(prefix: Array("a/".utf8), after: nil, limit: 2, now: later)
        #expect(first.rows.map(\.0.text) == ["a/1", "a/2"] && first.more)
        let second = index.strings(prefix: Array("a/".utf8), after: try Key("a/2"), limit: 2, now: later)
        #expect(second.rows.map(\.0.text) == ["a/3"] && !second.more, "queues' records are not strings")
    }

    @Test func keysWrittenHereAreToldFromKeysWrittenElsewhere() throws {
        let index = KeyIndex(gateway: "here", standInDelay: standInDelay)
        index.apply(record(.string, sequence: 1, writer: "here"), key: try Key("ours"), fromWatch: false)
        index.apply(record(.string, sequence: 1, writer: "here"), key: try Key("ours"), fromWatch: true)
        index.apply(
            record(.string, sequence: 2, writer: "here"), key: try Key("ours, watched"), fromWatch: true)
        index.apply(record(.string, sequence: 3, writer: "there"), key: try Key("theirs"), fromWatch: true)
        index.apply(record(.string, sequence: 4), key: try Key("unsigned"), fromWatch: true)
        #expect(index.entry(try Key("ours"))?.isWrittenHere == true)
        #expect(index.entry(try Key("ours, watched"))?.isWrittenHere == true, "after a restart of the watch")
        #expect(index.entry(try Key("theirs"))?.isWrittenHere == false)
        #expect(index.entry(try Key("unsigned"))?.isWrittenHere == false)
        index.apply(record(.string, sequence: 5, writer: "there"), key: try Key("ours"), fromWatch: true)
        #expect(index.entry(try Key("ours"))?.isWrittenHere == false, "the last writer announces the expiry")
    }
}
