import Gateway
import KeygateTestSupport
import Keyspace
import Testing

/// REST operations run on a pool of threads of their own (`offloadingThreads`, as on a NATS
/// cluster): here over the built-in engine, so that every answer can be checked.
@Suite("Operations on a pool of threads")
struct OffloadingTests {
    private func withOffloadingGateway(threads: Int, _ body: (GatewayFixture) throws -> Void) throws {
        try withGateway(realTime: true, configure: { $0.gateway.offloadingThreads = threads }, body)
    }

    @Test func cacheOperationsAnswerAsOnTheServersThreads() throws {
        try withOffloadingGateway(threads: 2) { gateway in
            let created = try gateway.request("PUT", "/v1/cache/k", text: "v1")
            #expect(created.status == 201)
            let tag = try #require(created.header("ETag"))
            let read = try gateway.request("GET", "/v1/cache/k")
            #expect(read.status == 200 && read.text == "v1" && read.header("ETag") == tag)
            expectProblem(
                try gateway.request("PUT", "/v1/cache/k", headers: [("If-None-Match", "*")], text: "v2"),
                status: 412)
            #expect(try gateway.request("GET", "/v1/cache/k").text == "v1", "a refused write changes nothing")
            #expect(try gateway.request("DELETE", "/v1/cache/k").status == 204)
            expectProblem(try gateway.request("GET", "/v1/cache/k"), status: 404)
        }
    }

    @Test func waitingPopsHoldNoThreadOfThePool() throws {
        try withOffloadingGateway(threads: 2) { gateway in
            // Twice as many waiting pops as threads: each is handed back to the keyspace's
            // waiting line once it has run, and its thread goes on.
            let parked = try (0..<4).map { _ in try gateway.client() }
            for client in parked {
                try client.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=30"))
            }
            try gateway.waitForConsumers(4, on: "q")
            #expect(try gateway.request("PUT", "/v1/cache/meanwhile", text: "served").status == 201)
            for index in 0..<4 {
                #expect(try gateway.request("POST", "/v1/queues/q", text: "m\(index)").status == 201)
            }
            let received = try Set(parked.map { try $0.readResponse(method: "POST").text })
            #expect(received == ["m0", "m1", "m2", "m3"])
        }
    }

    @Test func aMessagePoppedForAClientThatLeftGoesBack() throws {
        try withOffloadingGateway(threads: 1) { gateway in
            do {
                let leaving = try gateway.client()
                try leaving.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=30"))
                try withExtendedLifetime(leaving) { try gateway.waitForConsumers(1, on: "q") }
            }
            // Its connection closed: the server's hang-up watch cancels the pop.
            try gateway.waitForConsumers(0, on: "q", atMost: true)
            #expect(try gateway.request("POST", "/v1/queues/q", text: "kept").status == 201)
            let popped = try gateway.request("POST", "/v1/queues/q/pop")
            #expect(popped.status == 200 && popped.text == "kept")
        }
    }
}
