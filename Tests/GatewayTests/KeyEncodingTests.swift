import Gateway
import KeygateTestSupport
import Keyspace
import Testing

@Suite("Keys in paths")
struct KeyEncodingTests {
    @Test(
        arguments: [
            ("a%2Fb", "a/b"), ("with%20space", "with space"), ("%C3%A9t%C3%A9", "été"), ("100%25", "100%"),
            ("a%3Fb", "a?b"), ("plus+sign", "plus+sign"), ("%2Fleading", "/leading"),
        ])
    func decodesOneSegmentIntoTheKey(segment: String, key: String) throws {
        try withGateway { gateway throws in
            #expect(try gateway.request("PUT", "/v1/cache/\(segment)", text: "v").status == 201)
            #expect(try gateway.hasValue(at: key))
            #expect(try gateway.request("GET", "/v1/cache/\(segment)").text == "v")
            #expect(try gateway.request("GET", "/v1/cache/\(segment)/ttl").text == #"{"ttl":null}"#)
            #expect(try gateway.request("DELETE", "/v1/cache/\(segment)").status == 204)
        }
    }

    @Test(
        arguments: [
            ("empty", "/v1/cache/"), ("too long", "/v1/cache/" + String(repeating: "k", count: 1025)),
            ("bad escape", "/v1/cache/a%zz"), ("truncated escape", "/v1/cache/a%2"),
            ("NUL", "/v1/cache/a%00b"),
            ("newline", "/v1/cache/a%0Ab"), ("invalid UTF-8", "/v1/cache/%FF"),
        ])
    func refusesABadKeyAndStoresNothing(reason: String, target: String) throws {
        try withGateway { gateway in
            expectProblem(try gateway.request("PUT", target, text: "v"), status: 400)
            expectProblem(try gateway.request("GET", target), status: 400)
            #expect(gateway.keyspace.count == 0, "\(reason)")
        }
    }

    @Test func acceptsTheLongestKey() throws {
        try withGateway { gateway throws in
            let key = String(repeating: "k", count: 1024)
            #expect(try gateway.request("PUT", "/v1/cache/\(key)", text: "v").status == 201)
            #expect(try gateway.request("GET", "/v1/cache/\(key)").text == "v")
        }
    }

    @Test func aServerWithAShorterKeyLimitRefusesLongerKeysEverywhere() throws {
        try withGateway(configure: setting(\.gateway.limits.maxKeyBytes, to: 8)) { gateway throws in
            #expect(try gateway.request("PUT", "/v1/cache/12345678", text: "v").status == 201)
            let refused = try gateway.request("PUT", "/v1/cache/123456789", text: "v")
            expectProblem(refused, status: 400, slug: "invalid-key")
            #expect(
                refused.jsonObject?["detail"] as? String
                    == "A key is at most 8 bytes on this server; this one has 9.")
            expectProblem(try gateway.request("POST", "/v1/queues/123456789", text: "m"), status: 400)
            expectProblem(try gateway.request("POST", "/v1/pop?queues=a,123456789"), status: 400)
            expectProblem(try gateway.request("GET", "/v1/keys?prefix=123456789"), status: 400)
            #expect(gateway.keyspace.count == 1)
        }
    }
}
