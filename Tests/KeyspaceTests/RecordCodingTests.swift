import Testing

@testable import Keyspace

@Suite("Records on disk: framing, checksums and every change type")
struct RecordCodingTests {
    @Test func checksumIsCRC32CastagnoliOfTheStandardVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        // Slicing by 8 must agree with the byte-at-a-time tail for every length and alignment.
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for start in 0..<9 {
            let whole = CRC32C.checksum(bytes[start...])
            #expect(whole == CRC32C.checksum(Array(bytes[start...])))
        }
    }

    static let payload = Payload(bytes: [0, 1, 2, 0xFF], contentType: "application/octet-stream")
    /// A message with every field set.
    static let message = QueueMessage(
        id: 12, place: 11, payload: payload, enqueuedAt: Timestamp(milliseconds: 1_700_000_000_001),
        attempts: 3)

    /// One change of each kind, by name.
    static func change(_ name: String, key: Key) -> JournalRecord.Change? {
        switch name {
        case "set with a deadline":
            .set(
                key: key, value: payload, version: Version(7),
                deadline: Timestamp(milliseconds: 1_700_000_000_123))
        case "set without a deadline":
            .set(key: key, value: Payload(bytes: []), version: Version(1), deadline: nil)
        case "delete": .delete(key: key)
        case "expire": .expire(key: key)
        case "deadline": .deadline(key: key, deadline: Timestamp(milliseconds: 0))
        case "persist": .deadline(key: key, deadline: nil)
        case "legacy push creating a queue":
            .legacyPush(queue: key, message: payload, atHead: false, created: Version(9))
        case "legacy give back": .legacyPush(queue: key, message: payload, atHead: true, created: nil)
        case "pop": .pop(queue: key)
        case "enqueue creating a queue":
            .enqueue(queue: key, message: message, created: Version(9), until: nil)
        case "enqueue delayed":
            .enqueue(
                queue: key, message: message, created: nil, until: Timestamp(milliseconds: 1_700_000_060_000))
        case "lease":
            .lease(
                queue: key, id: 12, number: 40, deadline: Timestamp(milliseconds: 1_700_000_030_000),
                attempts: 2)
        case "acknowledge": .acknowledge(queue: key, id: 12)
        case "release": .release(queue: key, id: 12, attempts: 1)
        case "extend": .extend(queue: key, id: 12, deadline: Timestamp(milliseconds: 1_700_000_090_000))
        case "reveal": .reveal(queue: key, id: 12, place: 41)
        case "move": .transfer(queue: key, id: 12, to: try? Key("done"), place: 42, created: Version(43))
        case "hand to a consumer": .transfer(queue: key, id: 12, to: nil, place: 12, created: nil)
        case "policy":
            .policy(
                queue: key,
                policy: QueuePolicy(
                    visibility: .milliseconds(2500), maxReceives: 5, deadLetter: try? Key("dead")))
        case "standard policy": .policy(queue: key, policy: QueuePolicy())
        case "policy reset": .policy(queue: key, policy: nil)
        default: nil
        }
    }

    @Test(
        arguments: [
            "set with a deadline", "set without a deadline", "delete", "expire", "deadline", "persist",
            "legacy push creating a queue", "legacy give back", "pop", "enqueue creating a queue",
            "enqueue delayed", "lease", "acknowledge", "release", "extend", "reveal", "move",
            "hand to a consumer", "policy", "standard policy", "policy reset",
        ])
    func everyChangeRoundTrips(_ name: String) throws {
        let change = try #require(Self.change(name, key: Key("user:1")))
        let record = JournalRecord(change, lastEventID: 123_456_789_012)
        let framed = RecordFraming.frame { record.encode(into: &$0) }
        var scanner = RecordScanner(framed)
        let next = scanner.next()
        let body = try #require(next)
        var decoder = RecordDecoder(framed, range: body)
        #expect(try JournalRecord(decoding: &decoder) == record)
        #expect(scanner.next() == nil)
        #expect(scanner.stop == .end)
    }

    @Test func aFlippedBitAnywhereIsCaught() throws {
        let key = try Key("user:1")
        let record = JournalRecord(
            .set(key: key, value: Self.payload, version: Version(3), deadline: nil), lastEventID: 5)
        let framed = RecordFraming.frame { record.encode(into: &$0) }
        let follower = RecordFraming.frame {
            JournalRecord(.delete(key: key), lastEventID: 6).encode(into: &$0)
        }
        for index in framed.indices {
            var damaged = framed + follower
            damaged[index] ^= 0x10
            var scanner = RecordScanner(damaged)
            // Either the first record is refused, or (a length made larger) it swallows the next.
            if let body = scanner.next() {
                Issue.record("byte \(index) flipped, yet a record of \(body.count) bytes was accepted")
            }
            guard case .damaged(let offset, _, _) = scanner.stop else {
                Issue.record("byte \(index) flipped, but no damage reported")
                continue
            }
            #expect(offset == 0)
        }
    }

    @Test func anIncompleteLastRecordIsATornTailButABadMiddleOneIsNot() throws {
        let key = try Key("user:1")
        let first = RecordFraming.frame {
            JournalRecord(.delete(key: key), lastEventID: 1).encode(into: &$0)
        }
        let second = RecordFraming.frame {
            JournalRecord(.pop(queue: key), lastEventID: 2).encode(into: &$0)
        }
        for cut in 1..<second.count {
            var scanner = RecordScanner(first + second.prefix(cut))
            #expect(scanner.next() != nil)
            #expect(scanner.next() == nil)
            guard case .damaged(let offset, _, let isTornTail) = scanner.stop else {
                Issue.record("a record cut at \(cut) bytes was not reported")
                continue
            }
            #expect(offset == first.count)
            #expect(isTornTail, "a record cut at \(cut) bytes is the tail of a crash")
        }
        var middle = first + second
        middle[4] ^= 1  // the first record's checksum
        var scanner = RecordScanner(middle)
        #expect(scanner.next() == nil)
        #expect(scanner.stop == .damaged(offset: 0, reason: "a checksum mismatch", isTornTail: false))
        // Zeros after the last record are the room a log allocates ahead: the end.
        var zeros = RecordScanner(first + [UInt8](repeating: 0, count: 4096))
        #expect(zeros.next() != nil)
        #expect(zeros.next() == nil)
        #expect(zeros.stop == .end)
        #expect(zeros.offset == first.count)
        // A body whose header was never written (it is written last), then zeros: torn.
        var headerless = second
        headerless.replaceSubrange(0..<RecordFraming.headerSize, with: [UInt8](repeating: 0, count: 8))
        var unwritten = RecordScanner(first + headerless + [UInt8](repeating: 0, count: 100))
        #expect(unwritten.next() != nil)
        #expect(unwritten.next() == nil)
        #expect(
            unwritten.stop
                == .damaged(offset: first.count, reason: "a record without its header", isTornTail: true))
        // A record cut short by a crash, then the zeros of the room allocated ahead: torn.
        var short = RecordScanner(first + second.prefix(second.count - 2) + [UInt8](repeating: 0, count: 100))
        #expect(short.next() != nil)
        #expect(short.next() == nil)
        #expect(short.stop == .damaged(offset: first.count, reason: "a checksum mismatch", isTornTail: true))
    }

    @Test func malformedBodiesThrowInsteadOfTrapping() {
        for body in [[], [0], [1], [1, 0x80], [1, 0, 5, 65], [99, 0, 1, 65], [6, 0, 1, 65, 0]] as [[UInt8]] {
            var decoder = RecordDecoder(body)
            #expect(throws: RecordDecoder.Malformed.self, "body \(body)") {
                _ = try JournalRecord(decoding: &decoder)
            }
        }
        var tooLong = RecordDecoder([UInt8](repeating: 0xFF, count: 11))
        #expect(throws: RecordDecoder.Malformed.self) { _ = try tooLong.readVarint() }
    }
}
