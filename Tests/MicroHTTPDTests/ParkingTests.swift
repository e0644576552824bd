import Dispatch
import Foundation
import KeygateTestSupport
import Logging
import MicroHTTPD
import Synchronization
import Testing

@Suite("Parked requests")
struct ParkingTests {
    @Test func answersAParkedRequestFromAnotherThread() throws {
        try withServer { server, handler in
            let client = try TestHTTPClient(port: server.port)
            try client.send(TestHTTPClient.encode("GET", "/park"))
            try #require(handler.waitForParked(count: 1))
            let parked = handler.parked.withLock { $0[0] }
            // A thread of its own: the answer must not depend on a pool the tests may be using.
            Thread.detachNewThread {
                parked.respond(HTTPResponse(status: .ok, body: Array("late".utf8)))
            }
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "late")
            // The connection is still usable after a parked answer.
            #expect(try client.request("GET", "/echo").status == 200)
        }
    }

    @Test func answersExactlyOnce() throws {
        try withServer { server, handler in
            let client = try TestHTTPClient(port: server.port)
            try client.send(TestHTTPClient.encode("GET", "/park"))
            try #require(handler.waitForParked(count: 1))
            let parked = handler.parked.withLock { $0[0] }
            #expect(parked.isWaiting)
            #expect(parked.claim())
            #expect(!parked.claim())
            #expect(!parked.respond(HTTPResponse(status: .conflict)))
            parked.deliver(HTTPResponse(status: .ok, body: Array("first".utf8)))
            #expect(try client.readResponse().text == "first")
        }
    }

    @Test func answersAtTheDeadlineWhenNobodyElseDoes() throws {
        try withServer { server, handler in
            let client = try TestHTTPClient(port: server.port)
            let started = ContinuousClock.now
            let response = try client.request("GET", "/park?timeout=200")
            let waited = ContinuousClock.now - started
            #expect(response.status == 204)
            #expect(waited >= .milliseconds(190))
            #expect(waited < .seconds(3))
            let parked = handler.parked.withLock { $0[0] }
            #expect(!parked.respond(HTTPResponse(status: .ok)))
        }
    }

    @Test func parksManyRequestsAndAnswersEach() throws {
        try withServer { server, handler in
            let clients = try (0..<50).map { _ in try TestHTTPClient(port: server.port) }
            for client in clients {
                try client.send(TestHTTPClient.encode("GET", "/park"))
            }
            try #require(handler.waitForParked(count: clients.count))
            for (index, parked) in handler.parked.withLock({ $0 }).enumerated() {
                #expect(parked.respond(HTTPResponse(status: .ok, body: Array("\(index)".utf8))))
            }
            var answers = Set<String>()
            for client in clients {
                answers.insert(try client.readResponse().text)
            }
            #expect(answers == Set((0..<clients.count).map(String.init)))
        }
    }

    @Test func stopAnswersEveryParkedRequestWith503() throws {
        let handler = EchoHandler()
        var configuration = HTTPServer.Configuration()
        configuration.port = 0
        let server = try HTTPServer.start(
            configuration: configuration, handler: handler, logger: .init(label: "test"))
        defer { server.stop() }
        let clients = try (0..<5).map { _ in try TestHTTPClient(port: server.port) }
        for client in clients {
            try client.send(TestHTTPClient.encode("GET", "/park"))
        }
        try #require(handler.waitForParked(count: clients.count))
        let stopped = ContinuousClock.now
        server.stop()
        #expect(ContinuousClock.now - stopped < .seconds(3))
        for client in clients {
            let response = try client.readResponse()
            #expect(response.status == 503)
            #expect(response.header("Connection")?.lowercased() == "close")
        }
        #expect(throws: TestHTTPClient.Failure.self) { _ = try TestHTTPClient(port: server.port) }
    }

    @Test func abandonsARequestWhoseClientLeaves() throws {
        try withServer { server, handler in
            var client: TestHTTPClient? = try TestHTTPClient(port: server.port)
            try client?.send(TestHTTPClient.encode("GET", "/park"))
            try #require(handler.waitForParked(count: 1))
            let parked = handler.parked.withLock { $0[0] }
            client = nil
            #expect(handler.abandonedSignal.wait(timeout: .now() + 5) == .success)
            #expect(!parked.isWaiting)
            #expect(!parked.respond(HTTPResponse(status: .ok)))
            // Nothing is left suspended: the server stops at once.
            let stopping = ContinuousClock.now
            server.stop()
            #expect(ContinuousClock.now - stopping < .seconds(2))
        }
    }

    @Test func tellsWhetherTheClientIsStillThere() throws {
        try withServer { server, handler in
            let staying = try TestHTTPClient(port: server.port)
            var leaving: TestHTTPClient? = try TestHTTPClient(port: server.port)
            try staying.send(TestHTTPClient.encode("GET", "/park"))
            try leaving?.send(TestHTTPClient.encode("GET", "/park"))
            try #require(handler.waitForParked(count: 2))
            leaving = nil
            // Whichever one's claim comes first, the connected one reports connected.
            for parked in handler.parked.withLock({ $0 }) where parked.claim() {
                if parked.isClientConnected {
                    parked.deliver(HTTPResponse(status: .ok, body: Array("still here".utf8)))
                } else {
                    parked.abandon()
                }
            }
            #expect(try staying.readResponse().text == "still here")
        }
    }

    @Test func reportsAnAnswerThatDidNotGoOut() throws {
        try withServer { server, handler in
            var client: TestHTTPClient? = try TestHTTPClient(port: server.port)
            try client?.send(TestHTTPClient.encode("GET", "/park"))
            try #require(handler.waitForParked(count: 1))
            let parked = handler.parked.withLock { $0[0] }
            try #require(parked.claim())
            #expect(parked.isClientConnected)
            let undelivered = DispatchSemaphore(value: 0)
            // Far more than the socket buffers hold: the server is still sending when the
            // client resets the connection.
            parked.deliver(HTTPResponse(status: .ok, body: [UInt8](repeating: 7, count: 64 << 20))) {
                undelivered.signal()
            }
            try client?.readRaw(atLeast: 1)
            client?.resetOnClose()
            client = nil
            #expect(undelivered.wait(timeout: .now() + 10) == .success)
        }
    }

    @Test func doesNotReportAnAnswerThatWentOut() throws {
        try withServer { server, handler in
            let client = try TestHTTPClient(port: server.port)
            try client.send(TestHTTPClient.encode("GET", "/park"))
            try #require(handler.waitForParked(count: 1))
            let parked = handler.parked.withLock { $0[0] }
            try #require(parked.claim())
            let undelivered = Atomic<Bool>(false)
            parked.deliver(HTTPResponse(status: .ok, body: Array("done".utf8))) {
                undelivered.store(true, ordering: .relaxed)
            }
            #expect(try client.readResponse().text == "done")
            // The next request on the connection starts after the parked one completed.
            #expect(try client.request("GET", "/echo").status == 200)
            let wasReported = undelivered.load(ordering: .relaxed)
            #expect(!wasReported)
        }
    }
}
