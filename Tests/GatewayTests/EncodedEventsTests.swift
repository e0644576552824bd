import Keyspace
import Testing
import WebSocket

@testable import Gateway

/// The wire forms every subscriber shares: built once per event, and byte for byte what one
/// subscriber's encoding of its own would be.
@Suite("Encoded events")
struct EncodedEventsTests {
    static func events() throws -> [KeyspaceEvent] {
        [
            KeyspaceEvent(
                id: 7, type: .set, key: try Key(#"a"b\c"#), time: Timestamp(milliseconds: 1_700_000_000_123)),
            KeyspaceEvent(id: 8, type: .expired, key: try Key("é"), time: Timestamp(milliseconds: 1)),
            // Long enough for a frame with a 16-bit length.
            KeyspaceEvent(
                id: 9, type: .push, key: try Key(String(repeating: "k", count: 300)),
                time: Timestamp(milliseconds: 2)),
        ]
    }

    @Test(arguments: [1, 12, 345])
    func framesAreEachSubscriptionsEventMessages(subscription: Int) throws {
        let events = try Self.events()
        // A ring of two: an event whose slot a newer one took is encoded again, the same.
        let encoded = EncodedEvents(capacity: 2)
        for _ in 0..<2 {
            var frames: [UInt8] = [0]
            encoded.appendWebSocketEvents(events, subscription: subscription, to: &frames)
            let expected = events.flatMap {
                FrameEncoder.text(WebSocketReply.event(subscription: subscription, json: $0.json))
            }
            #expect(frames == [0] + expected)
        }
    }

    @Test func serverSentBlocksCarryTheIdTypeAndJSON() throws {
        let events = try Self.events()
        let encoded = EncodedEvents()
        var bytes: [UInt8] = []
        encoded.appendServerSentEvents(events, to: &bytes)
        let expected = events.map { "id: \($0.id)\nevent: \($0.type.rawValue)\ndata: \($0.json)\n\n" }
            .joined()
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
        #expect(
            expected.hasPrefix(
                #"id: 7\#nevent: set\#ndata: {"id":7,"type":"set","key":"a\"b\\c","time":1700000000123}"#))
    }
}
