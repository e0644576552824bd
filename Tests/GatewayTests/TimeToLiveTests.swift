import KeygateTestSupport
import Keyspace
import Testing

@Suite("Time to live over HTTP")
struct TimeToLiveTests {
    @Test func readsTheRemainingTime() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/volatile?ttl=12.5", text: "v")
            _ = try gateway.request("PUT", "/v1/cache/persistent", text: "v")
            gateway.clock.advance(by: .milliseconds(499))
            let volatile = try gateway.request("GET", "/v1/cache/volatile/ttl")
            #expect(volatile.status == 200)
            #expect(volatile.header("Content-Type") == "application/json")
            #expect(volatile.text == #"{"ttl":12.001}"#)
            #expect(try gateway.request("GET", "/v1/cache/persistent/ttl").text == #"{"ttl":null}"#)
            expectProblem(try gateway.request("GET", "/v1/cache/absent/ttl"), status: 404)
        }
    }

    @Test func setsAndRemovesTheTimeToLive() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/k", text: "v")
            #expect(try gateway.request("PUT", "/v1/cache/k/ttl", text: #"{"ttl": 30}"#).status == 204)
            #expect(try gateway.request("GET", "/v1/cache/k/ttl").text == #"{"ttl":30}"#)
            #expect(try gateway.request("PUT", "/v1/cache/k/ttl", text: #"{"ttl":0.1}"#).status == 204)
            #expect(try gateway.timeToLive(of: "k") == .remaining(.milliseconds(100)))
            #expect(try gateway.request("PUT", "/v1/cache/k/ttl", text: #"{"ttl": null}"#).status == 204)
            #expect(try gateway.request("GET", "/v1/cache/k/ttl").text == #"{"ttl":null}"#)
            gateway.clock.advance(by: .seconds(60))
            #expect(try gateway.request("GET", "/v1/cache/k").status == 200)
        }
    }

    @Test func aNewTimeToLiveTakesEffect() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/k?ttl=100", text: "v")
            #expect(try gateway.request("PUT", "/v1/cache/k/ttl", text: #"{"ttl": 1}"#).status == 204)
            gateway.clock.advance(by: .seconds(1))
            #expect(try gateway.request("GET", "/v1/cache/k").status == 404)
        }
    }

    @Test func answers404ForAnAbsentKey() throws {
        try withGateway { gateway in
            expectProblem(
                try gateway.request("PUT", "/v1/cache/absent/ttl", text: #"{"ttl": 1}"#), status: 404)
        }
    }

    @Test(
        arguments: [
            "", "{", "null", "[]", "30", #"{}"#, #"{"ttl":"30"}"#, #"{"ttl":-1}"#, #"{"ttl":0}"#,
            #"{"ttl":1,"x":2}"#, #"{"TTL":1}"#, #"{"ttl":1e400}"#, #"{"ttl":10000000001}"#, #"{"ttl":true}"#,
        ])
    func refusesABadBodyAndChangesNothing(body: String) throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/k?ttl=5", text: "v")
            expectProblem(try gateway.request("PUT", "/v1/cache/k/ttl", text: body), status: 400)
            #expect(try gateway.timeToLive(of: "k") == .remaining(.seconds(5)))
        }
    }
}
