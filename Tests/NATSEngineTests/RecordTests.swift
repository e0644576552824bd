import Keyspace
import Testing

@testable import NATSEngine

@Suite struct RecordTests {
    let now = Timestamp(milliseconds: 1_000_000)

    @Test(
        arguments: [
            (milliseconds: 1, ttl: "1s"), (milliseconds: 500, ttl: "1s"), (milliseconds: 1000, ttl: "1s"),
            (milliseconds: 1001, ttl: "2s"), (milliseconds: 1900, ttl: "2s"),
            (milliseconds: 60_000, ttl: "60s"),
        ])
    func storageTTLsAreWholeSecondsRoundedUp(milliseconds: Int64, ttl: String) {
        // The cluster drops fractions (1.9 s removed after 1.0 s) and refuses less than 1 s.
        #expect(
            Record.storageTTL(until: Timestamp(milliseconds: now.milliseconds + milliseconds), from: now)
                == ttl)
    }

    @Test func aStringRecordReadsBackFromItsHeaders() throws {
        let deadline = Timestamp(milliseconds: now.milliseconds + 1500)
        let headers = Record.headers(
            .string, at: now, deadline: deadline, expected: 7, contentType: "text/plain; charset=\"é\"\r\n")
        #expect(headers["Nats-Expected-Last-Subject-Sequence"] == "7")
        #expect(headers["Nats-TTL"] == "2s")
        #expect(!(headers["Keygate-Content-Type"] ?? "").contains("\r"))
        let record = try #require(Record(sequence: 9, headers: headers, body: Array("hello".utf8)))
        #expect(record.kind == .string)
        #expect(record.version == Version(9), "a write's version is its sequence")
        #expect(record.deadline == deadline)
        #expect(
            record.payload
                == Payload(bytes: Array("hello".utf8), contentType: "text/plain; charset=\"é\"\r\n"))
        #expect(record.isLive(at: Timestamp(milliseconds: deadline.milliseconds - 1)))
        #expect(!record.isLive(at: deadline), "hidden from its deadline on, to the millisecond")
    }

    @Test func aTTLChangeKeepsTheVersion() throws {
        let headers = Record.headers(.string, at: now, deadline: nil, expected: 3, version: Version(3))
        let record = try #require(Record(sequence: 12, headers: headers, body: []))
        #expect(record.version == Version(3))
        #expect(record.deadline == nil && headers["Nats-TTL"] == nil)
    }

    @Test func aDeletionExpiresFromStorageAndIsNeverLive() throws {
        let headers = Record.headers(.deleted, at: now, deadline: nil, expected: 4)
        #expect(headers["Nats-TTL"] == "1s")
        let record = try #require(Record(sequence: 5, headers: headers, body: []))
        #expect(!record.isLive(at: now))
    }

    @Test func aDeadlineBeyondTenYearsIsLeftToTheGateways() throws {
        let far = Timestamp(milliseconds: now.milliseconds + Record.longestStorageTTL + 1)
        let headers = Record.headers(.string, at: now, deadline: far, expected: 0)
        #expect(headers["Nats-TTL"] == nil)
        #expect(try #require(Record(sequence: 1, headers: headers, body: [])).expiresInStorage == false)
    }

    @Test func aWatchedRecordTakesItsSizeFromTheServer() throws {
        var headers = Record.headers(.string, at: now, deadline: nil, expected: 0)
        headers["Nats-Msg-Size"] = "42"
        #expect(try #require(Record(sequence: 1, headers: headers, body: nil)).size == 42)
        #expect(Record(sequence: 1, headers: [:], body: nil) == nil, "not a record of ours")
    }
}
