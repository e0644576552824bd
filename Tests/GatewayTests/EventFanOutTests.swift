import Dispatch
import Foundation
import Gateway
import KeygateTestSupport
import Keyspace
import MicroHTTPD
import Testing

/// Events fanned out to many subscribers at once, over server-sent events and WebSockets:
/// every subscriber gets every event it wants, once and in order, however the server batches
/// them, and one that stops reading holds back no other. Nothing here measures time.
@Suite("Event fan-out")
struct EventFanOutTests {
    /// Who writes an event stream's body once it has started: the upgrade loops (without
    /// TLS), or libmicrohttpd, resumed for each piece (with TLS).
    enum StreamWriter: String, CaseIterable, CustomTestStringConvertible {
        case upgradeLoops
        case libmicrohttpd

        var testDescription: String { rawValue }

        func configure(_ configuration: inout KeygateServer.Configuration) {
            configuration.http.writesStreamsOnLoops = self == .upgradeLoops
        }
    }

    /// Room for a thousand subscribers from one address, and more upgrade loops than cores.
    static func configureForAThousand(_ configuration: inout KeygateServer.Configuration) {
        configuration.http.maxConnectionsPerAddress = 2000
        configuration.http.threads = 3
    }

    /// Writes `count` keys `prefix<n>` on one connection, pipelined; the last one with a TTL
    /// of 1 s when `lastExpires`. Every write is checked.
    static func write(_ count: Int, prefix: String, on gateway: GatewayFixture, lastExpires: Bool = false)
        throws
    {
        let writer = try gateway.client()
        var batch: [UInt8] = []
        for index in 1...count {
            let ttl = lastExpires && index == count ? "?ttl=1" : ""
            batch += TestHTTPClient.encode("PUT", "/v1/cache/\(prefix)\(index)\(ttl)", body: [1])
        }
        try writer.send(batch)
        for _ in 1...count {
            let status = try writer.readResponse().status
            guard status == 201 else { throw TestHTTPClient.Failure(description: "a write got \(status)") }
        }
    }

    @Test(arguments: StreamWriter.allCases)
    func aThousandStreamsAllReceiveEveryEventAndTheExpiryInOrder(writer: StreamWriter) throws {
        func configure(_ configuration: inout KeygateServer.Configuration) {
            Self.configureForAThousand(&configuration)
            writer.configure(&configuration)
        }
        try withGateway(configure: configure) { gateway in
            let streams = try (0..<1000).map { _ in try gateway.subscribe("type=set,expired&key=fan:*") }
            try Self.write(20, prefix: "fan:", on: gateway, lastExpires: true)
            gateway.clock.advance(by: .seconds(1))
            _ = gateway.keyspace.expireDueKeys()
            let expected = (1...21).map(String.init)
            for stream in streams {
                let events = try (1...21).map { _ in try #require(try stream.nextEvent()) }
                #expect(events.map(\.id) == expected)
                #expect(events.last?.event == "expired")
                #expect(events.last?.data?.contains(#""key":"fan:20""#) == true)
            }
        }
    }

    @Test func aThousandSocketsAllReceiveEveryEventAndTheExpiryInOrder() throws {
        try withGateway(configure: Self.configureForAThousand) { gateway in
            let sockets = try (0..<1000).map { _ in
                let socket = try WebSocketTestClient(port: gateway.port)
                #expect(try socket.subscribe(#""key":"fan:*","type":["set","expired"]"#) == 1)
                return socket
            }
            try Self.write(20, prefix: "fan:", on: gateway, lastExpires: true)
            gateway.clock.advance(by: .seconds(1))
            _ = gateway.keyspace.expireDueKeys()
            for socket in sockets {
                let events = try (1...21).map { _ in try socket.nextEvent() }
                #expect(events.allSatisfy { $0.subscription == 1 })
                #expect(events.map { $0.event["id"] as? Int } == Array(1...21))
                #expect(events.last?.event["type"] as? String == "expired")
                #expect(events.last?.event["key"] as? String == "fan:20")
            }
        }
    }

    @Test(arguments: StreamWriter.allCases)
    func aBurstReachesEverySubscriberWholeAndInOrder(writer: StreamWriter) throws {
        func configure(_ configuration: inout KeygateServer.Configuration) {
            Self.configureForAThousand(&configuration)
            writer.configure(&configuration)
        }
        try withGateway(configure: configure) { gateway in
            let streams = try (0..<3).map { _ in try gateway.subscribe("key=burst:*") }
            let sockets = try (0..<3).map { _ in
                let socket = try WebSocketTestClient(port: gateway.port)
                _ = try socket.subscribe(#""key":"burst:*""#)
                return socket
            }
            // Far more than one read of the history takes at a time, written faster than one
            // event per wake-up: subscribers get them in batches.
            try Self.write(2000, prefix: "burst:", on: gateway)
            let expected = (1...2000).map(String.init)
            for stream in streams {
                #expect(try (1...2000).map { _ in try stream.nextEvent()?.id ?? "end" } == expected)
            }
            for socket in sockets {
                #expect(
                    try (1...2000).map { _ in try socket.nextEvent().event["id"] as? Int } == Array(1...2000))
            }
        }
    }

    @Test(arguments: StreamWriter.allCases)
    func aStreamThatStopsReadingHoldsBackNoOtherSubscriber(writer: StreamWriter) throws {
        // A history long enough that the others, which read each marker before the next
        // round, never depend on how soon the notifier lets them skip what they do not want;
        // far shorter than what the stalled stream falls behind.
        try withGateway(eventHistory: 2000, configure: writer.configure) { gateway in
            // A small buffer with Ethernet-sized segments, as in EventStreamTests: it fills soon.
            let stalled = try TestHTTPClient(port: gateway.port, receiveBuffer: 65_536, segmentSize: 1460)
            try stalled.send(TestHTTPClient.encode("GET", "/v1/events"))
            _ = try stalled.readStreamHead()
            let markers = try gateway.subscribe("key=marker:*")
            let socket = try WebSocketTestClient(port: gateway.port)
            _ = try socket.subscribe(#""key":"marker:*""#)
            // Many more bytes than the stalled stream's buffers hold, and events than the
            // history: a marker after each thousand, which the others read before the next.
            let prefix = String(repeating: "k", count: 500)
            var streamed: [String] = []
            var received: [Int] = []
            for round in 1...12 {
                try Self.write(1000, prefix: "\(prefix)\(round)-", on: gateway)
                try Self.write(1, prefix: "marker:\(round)-", on: gateway)
                streamed.append(
                    try #require(
                        try Self.labeled("marker \(round) of the stream") { try markers.nextEvent()?.id }))
                received.append(
                    try #require(
                        try Self.labeled("marker \(round) of the socket") {
                            try socket.nextEvent().event["id"] as? Int
                        }))
            }
            // Each marker came through, in order, with no gap, to both transports.
            let expectedIDs = (1...12).map { $0 * 1001 }
            #expect(streamed == expectedIDs.map(String.init))
            #expect(received == expectedIDs)
            // The stalled stream finds what was buffered, then a gap, then the end.
            var gaps = 0
            let events = ServerSentEventReader(client: stalled)
            while let block = try Self.labeled("the stalled stream", { try events.next() }) {
                gaps += block.event == "gap" ? 1 : 0
            }
            #expect(gaps == 1)
            // The body ended properly: the connection serves the next request.
            #expect(
                try Self.labeled("a request after the stream") { try stalled.request("GET", "/healthz") }
                    .status == 200)
        }
    }

    @Test func aStreamWhoseClientLeavesEndsWithoutWaitingForAWrite() throws {
        // No heartbeat would find the client gone: only the loop watching the socket can.
        try withGateway(heartbeat: .seconds(3600)) { gateway in
            func openStreams() throws -> Double {
                try PrometheusSamples(gateway.request("GET", "/metrics").text).value("keygate_event_streams")
            }
            var stream: ServerSentEventReader? = try gateway.subscribe()
            try Self.write(1, prefix: "k", on: gateway)
            #expect(try stream?.nextEvent()?.id == "1")
            #expect(try openStreams() == 1)
            stream = nil
            let deadline = ContinuousClock.now + TestTiming.scaled(.seconds(10))
            while try openStreams() > 0, ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
            #expect(try openStreams() == 0)
            // The server goes on streaming to others.
            let next = try gateway.subscribe("last_event_id=1")
            try Self.write(1, prefix: "j", on: gateway)
            #expect(try next.nextEvent()?.id == "2")
        }
    }

    @Test func aSocketThatStopsReadingIsClosedWhileTheOthersGetEverything() throws {
        func configure(_ configuration: inout KeygateServer.Configuration) {
            configuration.http.maxUpgradeBufferedBytes = 64 * 1024
            // The stalled socket is read only after every write: it must wait for that.
            configuration.http.upgradeCloseTimeout = .seconds(3600)
        }
        try withGateway(eventHistory: 20_000, configure: configure) { gateway in
            // A small buffer with Ethernet-sized segments, as in EventStreamTests.
            let stalled = try WebSocketTestClient(
                port: gateway.port, receiveBuffer: 65_536, segmentSize: 1460)
            _ = try stalled.subscribe(#""key":"*""#)
            // A thread of its own reads while the writes go on: this subscriber keeps up. The
            // events' bytes are far more than the stalled socket's buffers (4 MiB at most here).
            let count = 12_000
            let received = TestLock<[Int]>([])
            let subscribed = DispatchSemaphore(value: 0)
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                defer { done.signal() }
                guard let reader = try? WebSocketTestClient(port: gateway.port),
                    (try? reader.subscribe(#""key":"*""#)) != nil
                else { return }
                subscribed.signal()
                for _ in 1...count {
                    guard let id = (try? reader.nextEvent())?.event["id"] as? Int else { return }
                    received.withLock { $0.append(id) }
                }
            }
            #expect(subscribed.wait(timeout: .now() + .seconds(TestTiming.scale * 10)) == .success)
            try Self.write(count, prefix: String(repeating: "k", count: 500), on: gateway)
            #expect(done.wait(timeout: .now() + .seconds(TestTiming.scale * 60)) == .success)
            #expect(received.withLock { $0 } == Array(1...count))
            // The stalled one was told why it was closed: 1008, after what it had buffered.
            let rest = try stalled.connection.readToEnd()
            let close = try #require(Self.lastCloseFrame(in: rest))
            #expect(close.prefix(2) == [0x03, 0xF0])
        }
    }

    /// `body`'s result, or its error said to come from `what`.
    static func labeled<Result>(_ what: String, _ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch {
            throw TestHTTPClient.Failure(description: "\(what): \(error)")
        }
    }

    /// The payload of the last close frame in `bytes`, frames as a server sends them.
    static func lastCloseFrame(in bytes: [UInt8]) -> [UInt8]? {
        var offset = 0
        var close: [UInt8]?
        while offset + 2 <= bytes.count {
            var length = Int(bytes[offset + 1] & 0x7F)
            var header = 2
            if length == 126, offset + 4 <= bytes.count {
                length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
                header = 4
            } else if length == 127, offset + 10 <= bytes.count {
                length = bytes[(offset + 2)..<(offset + 10)].reduce(0) { $0 << 8 | Int($1) }
                header = 10
            }
            guard offset + header + length <= bytes.count else { break }
            if bytes[offset] & 0x0F == 8 {
                close = Array(bytes[(offset + header)..<(offset + header + length)])
            }
            offset += header + length
        }
        return close
    }
}
