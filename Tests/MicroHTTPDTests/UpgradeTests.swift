import Dispatch
import KeygateTestSupport
import MicroHTTPD
import Synchronization
import Testing

@Suite("Upgraded connections")
struct UpgradeTests {
    private static let upgradeRequest = TestHTTPClient.encode(
        "GET", "/upgrade", headers: [("Connection", "Upgrade"), ("Upgrade", "echo")])

    @Test func switchesProtocolsAndHandsOverBytesSentWithTheRequest() throws {
        try withServer { server, handler in
            let client = try TestHTTPClient(port: server.port)
            // The first bytes travel with the request: libmicrohttpd has read them already.
            try client.send(Self.upgradeRequest + Array("early".utf8))
            let response = try client.readResponse()
            #expect(response.status == 101)
            #expect(response.header("Upgrade") == "echo")
            #expect(response.header("Connection")?.lowercased() == "upgrade")
            #expect(try client.read(exactly: 5) == Array("early".utf8))
            try client.send("later")
            #expect(try client.read(exactly: 5) == Array("later".utf8))
            client.shutDownWrites()
            #expect(handler.upgrade.closedSignal.wait(timeout: .now() + 5) == .success)
            #expect(try client.readToEnd().isEmpty)
        }
    }

    @Test func closesGracefullyAfterSendingTheLastBytes() throws {
        try withServer { server, handler in
            let client = try TestHTTPClient(port: server.port)
            try client.send(Self.upgradeRequest)
            #expect(try client.readResponse().status == 101)
            try client.send("close")
            #expect(try client.readToEnd() == Array("closing".utf8))
            // The server shut its side first; the socket is released once the client closes.
            client.shutDownWrites()
            #expect(handler.upgrade.closedSignal.wait(timeout: .now() + 2) == .success)
            // The HTTP side still serves new connections.
            #expect(try TestHTTPClient(port: server.port).request("GET", "/echo").status == 200)
        }
    }

    @Test func refusesSendsOnceAClientStopsReading() throws {
        try withServer { server, handler in
            let client = try TestHTTPClient(port: server.port)
            client.setReceiveBuffer(bytes: 4096)
            try client.send(Self.upgradeRequest)
            #expect(try client.readResponse().status == 101)
            try client.send("flood")
            #expect(handler.upgrade.refusedSignal.wait(timeout: .now() + 10) == .success)
            let buffered = handler.upgrade.bufferedWhenRefused.load(ordering: .relaxed)
            let limit = HTTPServer.Configuration().maxUpgradeBufferedBytes
            #expect(buffered > limit)
            #expect(buffered <= limit + 16 * 1024)
        }
    }

    @Test func spreadsSocketsOverOneLoopPerWorkerThread() throws {
        func threeThreads(_ configuration: inout HTTPServer.Configuration) {
            configuration.threads = 3
        }
        try withServer(configure: threeThreads) { server, _ in
            // Held open: each socket goes to the loop serving the fewest.
            var clients: [TestHTTPClient] = []
            var threads: [[UInt8]] = []
            for _ in 0..<6 {
                let client = try TestHTTPClient(port: server.port)
                try client.send(
                    TestHTTPClient.encode(
                        "GET", "/upgrade-thread", headers: [("Connection", "Upgrade"), ("Upgrade", "thread")])
                )
                #expect(try client.readResponse().status == 101)
                threads.append(try client.read(exactly: 8))
                clients.append(client)
            }
            #expect(Set(threads).count == 3)
            #expect(Array(threads[3...]) == Array(threads[..<3]))
            #expect(server.upgradedSocketCount == clients.count)
        }
    }

    @Test func saysGoodbyeToOpenSocketsWhenTheServerStops() throws {
        try withServer { server, handler in
            let client = try TestHTTPClient(port: server.port)
            try client.send(Self.upgradeRequest)
            #expect(try client.readResponse().status == 101)
            let stopped = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                server.stop()
                stopped.signal()
            }
            #expect(try client.readToEnd() == Array("bye".utf8))
            client.shutDownWrites()
            // Well within the 5 s grace period: the socket closed as soon as the client did.
            #expect(stopped.wait(timeout: .now() + 3) == .success)
            #expect(handler.upgrade.closedSignal.wait(timeout: .now()) == .success)
        }
    }
}
