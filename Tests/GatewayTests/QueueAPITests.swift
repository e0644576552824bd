import Dispatch
import Foundation
import Gateway
import KeygateTestSupport
import Keyspace
import Testing

@Suite("Queues over HTTP")
struct QueueAPITests {
    @Test func pushesAndPopsInOrderKeepingMediaTypes() throws {
        try withGateway { gateway in
            let first = try gateway.request(
                "POST", "/v1/queues/jobs", headers: [("Content-Type", "text/plain")], text: "one")
            #expect(first.status == 201)
            #expect(first.header("Content-Type") == "application/json")
            #expect(first.text == #"{"length":1}"#)
            #expect(try gateway.request("POST", "/v1/queues/jobs", body: [0, 1, 2]).text == #"{"length":2}"#)

            let popped = try gateway.request("POST", "/v1/queues/jobs/pop")
            #expect(popped.status == 200)
            #expect(popped.text == "one")
            #expect(popped.header("Content-Type") == "text/plain")
            #expect(popped.header("Queue") == "jobs")
            let binary = try gateway.request("POST", "/v1/queues/jobs/pop")
            #expect(binary.body == [0, 1, 2])
            #expect(binary.header("Content-Type") == "application/octet-stream")
            let empty = try gateway.request("POST", "/v1/queues/jobs/pop")
            #expect(empty.status == 204)
            #expect(empty.body.isEmpty)
            #expect(try gateway.request("POST", "/v1/queues/jobs/pop?wait=0").status == 204)
            #expect(gateway.keyspace.count == 0)
        }
    }

    @Test func popsFromTheFirstNonEmptyQueueOfAList() throws {
        try withGateway { gateway in
            _ = try gateway.request("POST", "/v1/queues/b", text: "b1")
            _ = try gateway.request("POST", "/v1/queues/c", text: "c1")
            let first = try gateway.request("POST", "/v1/pop?queues=a,b,c")
            #expect(first.text == "b1")
            #expect(first.header("Queue") == "b")
            let second = try gateway.request("POST", "/v1/pop?queues=a,b,c")
            #expect(second.text == "c1")
            #expect(second.header("Queue") == "c")
            #expect(try gateway.request("POST", "/v1/pop?queues=a,b,c").status == 204)
        }
    }

    @Test(
        arguments: [
            "/v1/pop", "/v1/pop?queues=", "/v1/pop?queues=a,,b", "/v1/pop?queues=a,a", "/v1/pop?queues=a&x=1",
            "/v1/pop?queues=" + (0..<65).map { "q\($0)" }.joined(separator: ","), "/v1/pop?queues=a%00",
            "/v1/queues/q/pop?wait=-1", "/v1/queues/q/pop?wait=abc", "/v1/queues/q/pop?wait=61",
            "/v1/queues/q/pop?wait=1e3", "/v1/queues/q/pop?ttl=1", "/v1/queues/%FF/pop",
        ])
    func refusesBadPops(target: String) throws {
        try withGateway { gateway in
            _ = try gateway.request("POST", "/v1/queues/q", text: "kept")
            expectProblem(try gateway.request("POST", target), status: 400)
            #expect(try gateway.request("GET", "/v1/queues/q").jsonObject?["length"] as? Int == 1)
        }
    }

    @Test func describesAQueueWithItsParkedConsumers() throws {
        try withGateway { gateway in
            let absent = try gateway.request("GET", "/v1/queues/q")
            #expect(absent.status == 200)
            #expect(
                absent.text == #"{"consumers":0,"delayed":0,"inFlight":0,"length":0,"name":"q","visible":0}"#)
            let parked = try (0..<3).map { _ in try gateway.client() }
            for client in parked {
                try client.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=30"))
            }
            try gateway.waitForConsumers(3, on: "q")
            #expect(
                try gateway.request("GET", "/v1/queues/q").text
                    == #"{"consumers":3,"delayed":0,"inFlight":0,"length":0,"name":"q","visible":0}"#)
            for index in 0..<3 {
                _ = try gateway.request("POST", "/v1/queues/q", text: "m\(index)")
            }
            // Which consumer gets which depends on the order the server parked them in.
            let received = try Set(parked.map { try $0.readResponse().text })
            #expect(received == ["m0", "m1", "m2"])
        }
    }

    @Test func peeksAtMessagesAsTextOrBase64() throws {
        try withGateway { gateway in
            _ = try gateway.request(
                "POST", "/v1/queues/q", headers: [("Content-Type", "text/plain")], text: "hello")
            _ = try gateway.request("POST", "/v1/queues/q", body: [0xFF, 0x00])
            _ = try gateway.request("POST", "/v1/queues/q", text: "third")
            let peek = try gateway.request("GET", "/v1/queues/q/messages?limit=2")
            #expect(peek.status == 200)
            #expect(
                peek.text
                    == #"{"name":"q","length":3,"messages":[{"id":"1","text":"hello","contentType":"text/plain","#
                    + #""bytes":5,"attempts":0,"enqueuedAt":1700000000000},{"id":"3","base64":"/wA=","#
                    + #""contentType":"application/octet-stream","bytes":2,"attempts":0,"enqueuedAt":1700000000000}]}"#
            )
            #expect(try gateway.request("GET", "/v1/queues/q").jsonObject?["length"] as? Int == 3)
            expectProblem(try gateway.request("GET", "/v1/queues/q/messages?limit=0"), status: 400)
            expectProblem(try gateway.request("GET", "/v1/queues/q/messages?limit=1001"), status: 400)
        }
    }

    @Test func deletesAQueue() throws {
        try withGateway { gateway in
            _ = try gateway.request("POST", "/v1/queues/q", text: "m")
            #expect(try gateway.request("DELETE", "/v1/queues/q").status == 204)
            expectProblem(try gateway.request("DELETE", "/v1/queues/q"), status: 404)
            #expect(try gateway.request("POST", "/v1/queues/q/pop").status == 204)
        }
    }

    @Test func listsQueuesAmongKeys() throws {
        try withGateway { gateway in
            _ = try gateway.request("POST", "/v1/queues/q", text: "abc")
            _ = try gateway.request("POST", "/v1/queues/q", text: "de")
            #expect(
                try gateway.request("GET", "/v1/keys").text
                    == #"{"cursor":null,"keys":[{"bytes":5,"key":"q","length":2,"ttl":null,"type":"queue"}]}"#
            )
        }
    }

    @Test func aGetNeverConsumesAMessage() throws {
        try withGateway { gateway in
            _ = try gateway.request("POST", "/v1/queues/q", text: "m")
            let response = try gateway.request("GET", "/v1/queues/q/pop")
            expectProblem(response, status: 405)
            #expect(response.header("Allow") == "POST, OPTIONS")
            expectProblem(try gateway.request("GET", "/v1/pop?queues=q"), status: 405)
            #expect(try gateway.request("GET", "/v1/queues/q").jsonObject?["length"] as? Int == 1)
        }
    }

    @Test func stringsAndQueuesConflictBothWays() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/s", text: "v")
            _ = try gateway.request("POST", "/v1/queues/q", text: "m")
            expectProblem(
                try gateway.request("POST", "/v1/queues/s", text: "m"), status: 409, slug: "wrong-type")
            expectProblem(try gateway.request("POST", "/v1/queues/s/pop"), status: 409)
            expectProblem(try gateway.request("POST", "/v1/pop?queues=q,s"), status: 409)
            expectProblem(try gateway.request("GET", "/v1/queues/s"), status: 409)
            expectProblem(try gateway.request("DELETE", "/v1/queues/s"), status: 409)
            expectProblem(try gateway.request("PUT", "/v1/cache/q", text: "v"), status: 409)
            expectProblem(try gateway.request("GET", "/v1/cache/q"), status: 409)
            expectProblem(try gateway.request("DELETE", "/v1/cache/q"), status: 409)
            // The type is checked before any condition: a failing one still gets the 409.
            expectProblem(
                try gateway.request("PUT", "/v1/cache/q", headers: [("If-None-Match", "*")], text: "v"),
                status: 409)
            expectProblem(
                try gateway.request("DELETE", "/v1/cache/q", headers: [("If-Match", "\"ff\"")]), status: 409)
            #expect(try gateway.request("GET", "/v1/cache/s").text == "v")
            #expect(try gateway.request("POST", "/v1/queues/q/pop").text == "m")
        }
    }

    @Test func answers204WhenTheWaitEndsWithoutAMessage() throws {
        try withGateway { gateway in
            let started = ContinuousClock.now
            let response = try gateway.request("POST", "/v1/queues/q/pop?wait=0.3")
            let waited = ContinuousClock.now - started
            #expect(response.status == 204)
            #expect(waited >= .milliseconds(290) && waited < .seconds(3))
            #expect(try gateway.request("GET", "/v1/queues/q").jsonObject?["consumers"] as? Int == 0)
        }
    }

    @Test func consumersWhoseWaitEndedAreForgotten() throws {
        try withGateway { gateway in
            let client = try gateway.client()
            for _ in 0..<200 {
                #expect(try client.request("POST", "/v1/pop?queues=a,b&wait=0.001").status == 204)
            }
            // A consumer can time out before it is registered; it is then forgotten right after.
            try gateway.waitForConsumers(0, on: "a", atMost: true)
            try gateway.waitForConsumers(0, on: "b", atMost: true)
            _ = try gateway.request("POST", "/v1/queues/a", text: "kept")
            #expect(
                try gateway.request("GET", "/v1/queues/a").text
                    == #"{"consumers":0,"delayed":0,"inFlight":0,"length":1,"name":"a","visible":1}"#)
        }
    }

    @Test func aQueueWithAsManyConsumersWaitingAsAllowedAnswersOneMoreA503() throws {
        try withGateway(configure: setting(\.gateway.limits.maxWaitingPerQueue, to: 2)) { gateway in
            let waiting = try (0..<2).map { _ in try gateway.client() }
            // One after the other, so that the first to wait is the first served.
            for (index, client) in waiting.enumerated() {
                try client.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=10"))
                try gateway.waitForConsumers(index + 1, on: "q")
            }
            let refused = try gateway.request("POST", "/v1/pop?queues=other,q&wait=10")
            expectProblem(refused, status: 503, slug: "too-many-waiting")
            #expect(refused.header("Retry-After") == "1")
            #expect(try gateway.request("GET", "/v1/queues/other").jsonObject?["consumers"] as? Int == 0)
            // A pop that does not wait is not refused.
            #expect(try gateway.request("POST", "/v1/queues/q/pop").status == 204)
            _ = try gateway.request("POST", "/v1/queues/q", text: "m")
            #expect(try waiting[0].readResponse().text == "m")
            try gateway.waitForConsumers(1, on: "q", atMost: true)
            let client = try gateway.client()
            try client.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=10"))
            try gateway.waitForConsumers(2, on: "q")
        }
    }

    @Test func aParkedMultiQueuePopTakesTheFirstMessagePushedToAnyQueue() throws {
        try withGateway { gateway in
            let client = try gateway.client()
            try client.send(TestHTTPClient.encode("POST", "/v1/pop?queues=a,b&wait=10"))
            try gateway.waitForConsumers(1, on: "b")
            _ = try gateway.request("POST", "/v1/queues/b", text: "to b")
            _ = try gateway.request("POST", "/v1/queues/a", text: "to a")
            let response = try client.readResponse()
            #expect(response.text == "to b")
            #expect(response.header("Queue") == "b")
            #expect(try gateway.request("POST", "/v1/queues/a/pop").text == "to a")
        }
    }

    @Test func fourHundredParkedConsumersGetOneMessageEach() throws {
        try withGateway { gateway in
            let consumers = try (0..<400).map { _ in try gateway.client() }
            for consumer in consumers {
                // The longest wait the server allows: under a sanitizer, four hundred consumers
                // took more than 30 s to gather.
                try consumer.send(TestHTTPClient.encode("POST", "/v1/queues/work/pop?wait=60"))
            }
            try gateway.waitForConsumers(400, on: "work")
            let producer = try gateway.client()
            for index in 0..<400 {
                #expect(
                    try producer.request("POST", "/v1/queues/work", text: "m\(index)").text
                        == #"{"length":0}"#)
            }
            var received: [String] = []
            for consumer in consumers {
                let response = try consumer.readResponse()
                #expect(response.status == 200)
                received.append(response.text)
            }
            // Each got exactly one message; none was duplicated or left behind.
            #expect(received.count == 400)
            #expect(Set(received) == Set((0..<400).map { "m\($0)" }))
            #expect(
                try gateway.request("GET", "/v1/queues/work").text
                    == #"{"consumers":0,"delayed":0,"inFlight":0,"length":0,"name":"work","visible":0}"#)
        }
    }

    @Test func consumersAreServedInTheOrderTheyParked() throws {
        try withGateway { gateway in
            var consumers: [TestHTTPClient] = []
            for index in 0..<10 {
                let consumer = try gateway.client()
                try consumer.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=30"))
                try gateway.waitForConsumers(index + 1, on: "q")
                consumers.append(consumer)
            }
            for index in 0..<10 {
                _ = try gateway.request("POST", "/v1/queues/q", text: "m\(index)")
            }
            for (index, consumer) in consumers.enumerated() {
                #expect(try consumer.readResponse().text == "m\(index)")
            }
        }
    }

    @Test func consumersThatLeftLoseNothing() throws {
        try withGateway { gateway in
            var leaving = try (0..<20).map { _ in try gateway.client() }
            for client in leaving {
                try client.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=30"))
            }
            try gateway.waitForConsumers(20, on: "q")
            leaving.removeAll()
            for index in 1...5 {
                _ = try gateway.request("POST", "/v1/queues/q", text: "m\(index)")
            }
            for index in 1...5 {
                #expect(try gateway.request("POST", "/v1/queues/q/pop").text == "m\(index)")
            }
            #expect(
                try gateway.request("GET", "/v1/queues/q").text
                    == #"{"consumers":0,"delayed":0,"inFlight":0,"length":0,"name":"q","visible":0}"#)
        }
    }

    @Test func parkedConsumersNeverDelayOtherRequests() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/k", text: "v")
            let parked = try (0..<40).map { _ in try gateway.client() }
            for client in parked {
                try client.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=30"))
            }
            try gateway.waitForConsumers(40, on: "q")
            let readers = try (0..<40).map { _ in try gateway.client() }
            var slowest = Duration.zero
            for reader in readers {
                let started = ContinuousClock.now
                #expect(try reader.request("GET", "/v1/cache/k").text == "v")
                slowest = max(slowest, ContinuousClock.now - started)
            }
            #expect(slowest < .milliseconds(100))
        }
    }
}

@Suite("Queues when the server stops")
struct QueueShutdownTests {
    @Test func parkedConsumersGet503AndNoMessageIsLost() throws {
        try withGateway { gateway in
            _ = try gateway.request("POST", "/v1/queues/other", text: "kept")
            let consumers = try (0..<5).map { _ in try gateway.client() }
            for consumer in consumers {
                try consumer.send(TestHTTPClient.encode("POST", "/v1/queues/q/pop?wait=30"))
            }
            try gateway.waitForConsumers(5, on: "q")
            gateway.server.stop()
            for consumer in consumers {
                expectProblem(try consumer.readResponse(), status: 503, slug: "service-unavailable")
            }
            #expect(try gateway.keyspace.queueInfo(Key("other")).length == 1)
            // Their waits are forgotten too: a waiter left in the keyspace kept its consumer,
            // and through it the whole server, alive (found by LeakSanitizer).
            #expect(try gateway.keyspace.queueInfo(Key("q")).consumers == 0)
        }
    }
}
