import Dispatch
import Foundation
import Gateway
import KeygateTestSupport
import Keyspace
import MicroHTTPD
import Synchronization
import Testing

@Suite("Event streams over HTTP")
struct EventStreamTests {
    @Test func answersWithTheHeadersOfAnEventStream() throws {
        try withGateway { gateway in
            let client = try gateway.client()
            try client.send(TestHTTPClient.encode("GET", "/v1/events"))
            let head = try client.readStreamHead()
            #expect(head.status == 200)
            #expect(head.header("Content-Type") == "text/event-stream")
            #expect(head.header("Cache-Control") == "no-cache")
            #expect(head.header("X-Accel-Buffering") == "no")
            #expect(head.header("Transfer-Encoding") == "chunked")
            #expect(try ServerSentEventReader(client: client).next()?.retry == "3000")
            let headOnly = try gateway.request("HEAD", "/v1/events")
            #expect(headOnly.status == 200)
            #expect(headOnly.header("Content-Type") == "text/event-stream")
            #expect(headOnly.header("Transfer-Encoding") == "chunked")
            #expect(headOnly.header("Content-Length") == nil)
        }
    }

    @Test func sendsEachEventWithItsIdTypeAndJSON() throws {
        try withGateway { gateway in
            let events = try gateway.subscribe()
            _ = try gateway.request("PUT", "/v1/cache/a%22b?ttl=5", text: "v")
            let event = try #require(try events.nextEvent())
            #expect(event.id == "1")
            #expect(event.event == "set")
            let time = gateway.clock.now().milliseconds
            #expect(event.data == #"{"id":1,"type":"set","key":"a\"b","time":\#(time)}"#)
            let data = try #require(
                event.data.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            )
            #expect(data["key"] as? String == "a\"b")
        }
    }

    @Test func deliversExpiryOnTime() throws {
        try withGateway(realTime: true) { gateway in
            let events = try gateway.subscribe("type=expired")
            let written = Date()
            _ = try gateway.request("PUT", "/v1/cache/soon?ttl=0.5", text: "v")
            let event = try #require(try events.nextEvent())
            let lateness = Date().timeIntervalSince(written)
            #expect(event.event == "expired")
            #expect(event.data?.contains(#""key":"soon""#) == true)
            #expect(lateness >= 0.45 && lateness <= 0.6, "arrived after \(lateness) s")
        }
    }

    @Test func filtersByKeyPatternAndType() throws {
        try withGateway { gateway in
            let users = try gateway.subscribe("key=user:*&key=admin")
            let deletions = try gateway.subscribe("type=del,expired")
            for key in ["order:1", "user:1", "admin", "administrator"] {
                _ = try gateway.request("PUT", "/v1/cache/\(key)", text: "v")
            }
            _ = try gateway.request("DELETE", "/v1/cache/order:1")
            _ = try gateway.request("PUT", "/v1/cache/user:2", text: "last")
            var seen: [String] = []
            while seen.count < 3, let event = try users.nextEvent() {
                seen.append(event.data ?? "")
            }
            #expect(
                seen.map { $0.contains("user:1") || $0.contains("\"admin\"") || $0.contains("user:2") } == [
                    true, true, true,
                ])
            let deleted = try #require(try deletions.nextEvent())
            #expect(deleted.event == "del")
            #expect(deleted.data?.contains("order:1") == true)
        }
    }

    @Test(arguments: [
        "type=nope", "type=", "type=set,,del", "key=[abc", "key=x%5C", "last_event_id=abc",
        "last_event_id=-1", "since=1", "type=set&type=del",
    ])
    func refusesABadFilter(query: String) throws {
        try withGateway { gateway in
            expectProblem(try gateway.request("GET", "/v1/events?\(query)"), status: 400)
        }
    }

    @Test func refusesABadLastEventIDHeader() throws {
        try withGateway { gateway in
            expectProblem(
                try gateway.request("GET", "/v1/events", headers: [("Last-Event-ID", "x")]), status: 400)
        }
    }

    @Test func resumesAfterTheLastEventIDWithNoGapOrDuplicate() throws {
        try withGateway { gateway in
            for index in 1...10 {
                _ = try gateway.request("PUT", "/v1/cache/k\(index)", text: "v")
            }
            func ids(_ reader: ServerSentEventReader, count: Int) throws -> [String] {
                try (0..<count).map { _ in try reader.nextEvent()?.id ?? "end" }
            }
            let fromHeader = try gateway.subscribe(headers: [("Last-Event-ID", "7")])
            #expect(try ids(fromHeader, count: 3) == ["8", "9", "10"])
            let fromQuery = try gateway.subscribe("last_event_id=4&type=set")
            #expect(try ids(fromQuery, count: 6) == ["5", "6", "7", "8", "9", "10"])
            // The header wins over the query: a browser sends both when it reconnects.
            let both = try gateway.subscribe("last_event_id=1", headers: [("Last-Event-ID", "9")])
            _ = try gateway.request("PUT", "/v1/cache/k11", text: "v")
            #expect(try ids(both, count: 2) == ["10", "11"])
            #expect(try ids(fromHeader, count: 1) == ["11"])
        }
    }

    @Test func startsWithAGapWhenTheHistoryNoLongerHasTheLastEventID() throws {
        try withGateway(eventHistory: 5) { gateway in
            for index in 1...12 {
                _ = try gateway.request("PUT", "/v1/cache/k\(index)", text: "v")
            }
            let events = try gateway.subscribe(headers: [("Last-Event-ID", "3")])
            let gap = try #require(try events.nextEvent())
            #expect(gap.event == "gap")
            #expect(gap.data == #"{"type":"gap","from":4,"to":7}"#)
            #expect(gap.id == "7")
            #expect(try (0..<5).map { _ in try events.nextEvent()?.id } == ["8", "9", "10", "11", "12"])
        }
    }

    @Test func eventsASubscriberDoesNotWantNeverPushItOutOfTheHistory() throws {
        try withGateway(eventHistory: 50) { gateway in
            let expiries = try gateway.subscribe("type=expired")
            // Reading every event between bursts keeps the notifier within the history (which
            // holds what it has not looked at up to twice its length), however busy the
            // machine: what is tested is the idle subscriber's skipping, not the notifier's pace.
            let everything = try gateway.subscribe()
            let writer = try gateway.client()
            for burst in 0..<20 {
                for index in burst * 10..<burst * 10 + 10 {
                    _ = try writer.request("PUT", "/v1/cache/k\(index)", text: "v")
                }
                for _ in 0..<10 {
                    #expect(try everything.nextEvent()?.event == "set")
                }
            }
            _ = try writer.request("PUT", "/v1/cache/short?ttl=1", text: "v")
            gateway.clock.advance(by: .seconds(1))
            _ = gateway.keyspace.expireDueKeys()
            let event = try #require(try expiries.nextEvent())
            #expect(event.event == "expired")
            #expect(event.id == "202")
        }
    }

    @Test func twoHundredSubscribersAllReceiveTheSameExpiry() throws {
        try withGateway { gateway in
            let subscribers = try (0..<200).map { _ in try gateway.subscribe("type=expired") }
            _ = try gateway.request("PUT", "/v1/cache/shared?ttl=1", text: "v")
            gateway.clock.advance(by: .seconds(1))
            _ = gateway.keyspace.expireDueKeys()
            for subscriber in subscribers {
                let event = try #require(try subscriber.nextEvent())
                #expect(event.event == "expired")
                #expect(event.data?.contains(#""key":"shared""#) == true)
            }
        }
    }

    @Test func sendsHeartbeatsWhenIdle() throws {
        try withGateway(heartbeat: .seconds(1)) { gateway in
            let events = try gateway.subscribe()
            let block = try #require(try events.next())
            #expect(block.comments == ["heartbeat"])
        }
    }

    @Test func aSubscriberThatStopsReadingSlowsNoWriteAndEndsWithAGap() throws {
        // Sanitized (scale > 1), the writes can outlast the 60 s idle timeout, which would close
        // the stalled subscriber without its gap, so it gets 90 s there.
        let idleTimeout: Duration? = TestTiming.scale > 1 ? .seconds(90) : nil
        func configure(_ configuration: inout KeygateServer.Configuration) {
            if let idleTimeout {
                configuration.http.idleTimeout = idleTimeout
            }
        }
        try withGateway(eventHistory: 100, configure: configure) { gateway in
            // A small buffer, set before connecting, with Ethernet-sized segments: loopback's
            // 64 KiB ones never fit its window, which made reading the drained stream wait
            // seconds for TCP's persist timer.
            let stalled = try TestHTTPClient(port: gateway.port, receiveBuffer: 65_536, segmentSize: 1460)
            try stalled.send(TestHTTPClient.encode("GET", "/v1/events"))
            _ = try stalled.readStreamHead()
            // Events of long keys, far more bytes than the socket buffers (4 MiB at most
            // here) and events than the history hold.
            let prefix = String(repeating: "k", count: 500)
            let writer = try gateway.client()
            let started = ContinuousClock.now
            for round in 0..<12 {
                var batch: [UInt8] = []
                for index in 0..<1000 {
                    batch += TestHTTPClient.encode("PUT", "/v1/cache/\(prefix)\(round)-\(index)", body: [1])
                }
                try writer.send(batch)
                for _ in 0..<1000 {
                    #expect(try writer.readResponse().status == 201)
                }
            }
            #expect(ContinuousClock.now - started < TestTiming.scaled(.seconds(60)))
            // Reading now, the subscriber finds what was buffered, then a gap, then the end.
            let events = ServerSentEventReader(client: stalled)
            var gaps: [String] = []
            while let block = try events.next() {
                if block.event == "gap" {
                    gaps.append(block.data ?? "")
                }
            }
            #expect(gaps.count == 1)
            #expect(gateway.keyspace.lastEventID == 12_000)
        }
    }
}
