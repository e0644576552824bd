import Foundation
import KeygateTestSupport
import MicroHTTPD
import Testing

/// The connection limits, in all and per client address, and the request read timeout, over
/// real sockets.
@Suite struct ConnectionLimitTests {
    @Test func aConnectionPastTheLimitGetsA503WithRetryAfterAndIsClosed() throws {
        try withServer(configure: setting(\.maxConnections, to: 2)) { server, _ in
            var served = try (0..<2).map { _ in try TestHTTPClient(port: server.port) }
            for client in served {
                #expect(try client.request("GET", "/echo").status == 200)
            }
            let third = try TestHTTPClient(port: server.port)
            let refused = try third.request("GET", "/echo")
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "1")
            #expect(refused.header("Connection") == "close")
            #expect(refused.text.contains("as many connections open as it serves"))
            #expect(third.isClosedByServer())
            // The served connections go on, and once one closes a new one is served.
            #expect(try served[1].request("GET", "/echo").status == 200)
            served.removeFirst()
            try expectServed(within: .seconds(5)) { try TestHTTPClient(port: server.port) }
        }
    }

    @Test func anAddressPastItsLimitGetsA503WhileOtherAddressesAreServed() throws {
        try withServer(configure: setting(\.maxConnectionsPerAddress, to: 2)) { server, _ in
            let mine = try (0..<2).map { _ in try TestHTTPClient(port: server.port) }
            for client in mine {
                #expect(try client.request("GET", "/echo").status == 200)
            }
            let oneTooMany = try TestHTTPClient(port: server.port)
            let refused = try oneTooMany.request("GET", "/echo")
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "1")
            #expect(refused.text.contains("Your address has 2 connections open"))
            #expect(oneTooMany.isClosedByServer())
            let other = try TestHTTPClient(port: server.port, from: "127.0.0.2")
            #expect(try other.request("GET", "/echo").status == 200)
        }
    }

    @Test func pastTheOverflowAnAddressIsClosedUnanswered() throws {
        // One served, then 16 let in to be told why (the least overflow), then closed at once.
        // Which of the first 17 is served is the worker threads' race: connections made
        // together have no order.
        try withServer(configure: setting(\.maxConnectionsPerAddress, to: 1)) { server, _ in
            let admitted = try (0..<17).map { _ in try TestHTTPClient(port: server.port) }
            try waitUntil(within: .seconds(5)) { server.openConnectionCount == admitted.count }
            let closed = try TestHTTPClient(port: server.port)
            #expect(closed.isClosedByServer())
            let statuses = try admitted.map { try $0.request("GET", "/echo").status }
            #expect(statuses.filter { $0 == 200 }.count == 1)
            #expect(statuses.filter { $0 == 503 }.count == 16)
        }
    }

    @Test func aRequestTricklingInGetsA408AtTheReadTimeoutThoughNeverSilent() throws {
        try withServer(configure: setting(\.readTimeout, to: .seconds(1))) { server, _ in
            let client = try TestHTTPClient(port: server.port)
            let started = ContinuousClock.now
            try client.send("GET /echo HTTP/1.1\r\nHost: x\r\n")
            try trickle(to: client, "X-Trickle: 1\r\n", startedAt: started)
            let waited = ContinuousClock.now - started
            let answer = try client.readResponse()
            #expect(answer.status == 408)
            #expect(answer.header("Connection") == "close")
            #expect(answer.text.contains("within 1 s"))
            #expect(client.isClosedByServer())
            #expect(waited >= .milliseconds(900) && waited < TestTiming.scaled(.seconds(3)))
        }
    }

    @Test func aBodyTricklingInGetsA408AtTheReadTimeout() throws {
        try withServer(configure: setting(\.readTimeout, to: .seconds(1))) { server, _ in
            let client = try TestHTTPClient(port: server.port)
            let started = ContinuousClock.now
            try client.send("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            try trickle(to: client, "a", startedAt: started)
            #expect(try client.readResponse().status == 408)
            #expect(client.isClosedByServer())
        }
    }

    @Test func aSilentNewConnectionIsClosedAtTheReadTimeout() throws {
        try withServer(configure: setting(\.readTimeout, to: .seconds(1))) { server, _ in
            let client = try TestHTTPClient(port: server.port)
            #expect(try client.readResponse().status == 408)
            #expect(client.isClosedByServer())
            try waitUntil(within: .seconds(5)) { server.openConnectionCount == 0 }
        }
    }

    @Test func theReadTimeoutSparesAKeepAliveConnectionBetweenRequestsAndAParkedRequest() throws {
        try withServer(configure: setting(\.readTimeout, to: .seconds(1))) { server, _ in
            let client = try TestHTTPClient(port: server.port)
            #expect(try client.request("GET", "/echo").status == 200)
            // Longer than the read timeout, shorter than the idle timeout: the wait is the test.
            Thread.sleep(forTimeInterval: 1.5)
            #expect(try client.request("GET", "/echo").status == 200)
            // Parked past the read timeout: answered by its own deadline, not closed.
            #expect(try client.request("GET", "/park?timeout=1500").status == 204)
            #expect(try client.request("GET", "/echo").status == 200)
        }
    }

    @Test func aLongTargetGetsA414AndALargeHeadA431() throws {
        let limits: (inout HTTPServer.Configuration) -> Void = {
            $0.maxURLBytes = 100
            $0.maxHeaderBytes = 1024
        }
        try withServer(configure: limits) { server, _ in
            let long = try TestHTTPClient(port: server.port)
            let tooLong = try long.request("GET", "/echo?text=" + String(repeating: "a", count: 100))
            #expect(tooLong.status == 414)
            #expect(tooLong.text.contains("limit of 100 bytes"))
            let fits = try TestHTTPClient(port: server.port)
            #expect(try fits.request("GET", "/echo?text=" + String(repeating: "a", count: 80)).status == 200)

            let large = try TestHTTPClient(port: server.port)
            try large.send(
                TestHTTPClient.encode(
                    "GET", "/echo", headers: [("X-Large", String(repeating: "b", count: 1200))]))
            let tooLarge = try large.readResponse()
            #expect(tooLarge.status == 431)
            #expect(tooLarge.text.contains("limit of 1024 bytes"))
            // Past twice the limit, libmicrohttpd refuses the head itself.
            let huge = try TestHTTPClient(port: server.port)
            try huge.send(
                TestHTTPClient.encode(
                    "GET", "/echo", headers: [("X-Huge", String(repeating: "c", count: 4000))]))
            #expect(try huge.readResponse().status == 431)
        }
    }

    /// Sends `bytes` every 100 ms, never silent for long, until the server answers or closes;
    /// fails after 10 s (scaled).
    private func trickle(
        to client: TestHTTPClient, _ bytes: String, startedAt started: ContinuousClock.Instant
    )
        throws
    {
        while !client.isReadable(within: .milliseconds(100)) {
            guard ContinuousClock.now - started < TestTiming.scaled(.seconds(10)) else {
                throw TestHTTPClient.Failure(description: "the server never cut the trickle")
            }
            try client.send(bytes)
        }
    }

    /// Opens connections with `connect` until one is served; fails after `timeout`.
    private func expectServed(within timeout: Duration, _ connect: () throws -> TestHTTPClient) throws {
        let deadline = ContinuousClock.now + TestTiming.scaled(timeout)
        while try connect().request("GET", "/echo").status != 200 {
            guard ContinuousClock.now < deadline else {
                throw TestHTTPClient.Failure(description: "no connection was served within \(timeout)")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Polls `condition` until it holds; fails after `timeout`.
    private func waitUntil(within timeout: Duration, _ condition: () -> Bool) throws {
        let deadline = ContinuousClock.now + TestTiming.scaled(timeout)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                throw TestHTTPClient.Failure(description: "the condition did not hold within \(timeout)")
            }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }
}
