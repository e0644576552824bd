import Testing

@testable import Keyspace

/// Event ids that name the expirations a cluster told ahead of its history.
@Suite("Event positions")
struct EventPositionTests {
    @Test(arguments: ["0", "42", "1042~77-80,95", "7~1", "7~1-2,4-9,11,18446744073709551615"])
    func anIdReadsBackAsWritten(text: String) throws {
        let position = try #require(EventPosition(text))
        #expect(position.description == text)
    }

    @Test(arguments: [
        "", "~", "1~", "~1", "-1", "1.5", " 1", "1~a", "1~1,,3", "1~1-", "1~-2", "1~1-2-3",
        "18446744073709551616",
        "1~18446744073709551616", "1~1~2",
    ])
    func refusesWhatIsNotAnId(text: String) {
        #expect(EventPosition(text) == nil)
    }

    @Test(arguments: [
        ("1~2-1", "1~1-2"), ("1~3,1", "1~1,3"), ("1~1,1", "1~1"), ("1~1-2,3", "1~1-3"),
        ("1~5-9,2-6", "1~2-9"),
        ("007~0009", "7~9"),
    ])
    func readsRangesInAnyOrderAndJoinsThem(text: String, written: String) throws {
        #expect(try #require(EventPosition(text)).description == written)
    }

    @Test func refusesMoreRangesThanAnIdMayName() {
        let ranges = (0..<(2 * AnnouncedExpirations.maximumRanges)).map { String($0 * 3) }
        #expect(EventPosition("9~" + ranges.joined(separator: ",")) != nil)
        #expect(EventPosition("9~" + (ranges + ["999"]).joined(separator: ",")) == nil)
    }

    @Test func recordsJoinTheirNeighboursAndSplitThemWhenRemoved() {
        var set = AnnouncedExpirations()
        for record: UInt64 in [5, 7, 6, 1, 9, 8] {
            let inserted = set.insert(record)
            #expect(inserted)
        }
        #expect(set.description == "1,5-9")
        #expect(set.contains(7) && !set.contains(4) && !set.contains(10))
        set.remove(7)
        #expect(set.description == "1,5-6,8-9")
        set.remove(1)
        set.remove(5)
        set.remove(9)
        set.remove(42)
        #expect(set.description == "6,8")
        set.remove(6)
        set.remove(8)
        #expect(set.isEmpty)
    }

    @Test func insertionsStopAtTheMostRangesAndRemovalsAtTwiceThat() {
        var set = AnnouncedExpirations()
        let most = UInt64(AnnouncedExpirations.maximumRanges)
        for index in 0..<most {
            set.insert(index * 6)
        }
        let beyond = set.insert(1_000)
        #expect(!beyond, "a new range past the most")
        for index in 0..<most {
            for offset: UInt64 in 1...4 {
                let joined = set.insert(index * 6 + offset)
                #expect(joined, "joining a range adds none")
            }
        }
        #expect(set.ranges.count == Int(most))
        for index in 0..<most {
            set.remove(index * 6 + 1)
        }
        #expect(set.ranges.count == 2 * Int(most), "each removal split a range")
        set.remove(3)
        #expect(set.contains(3), "a split past twice the most leaves the record in")
        set.remove(2)
        #expect(!set.contains(2), "a removal that splits nothing")
    }
}
