import KeygateTestSupport
import Testing

@Suite("Conditional requests")
struct ConditionalRequestTests {
    @Test func ifNoneMatchStarWritesOnlyWhenAbsent() throws {
        try withGateway { gateway in
            let condition = [("If-None-Match", "*")]
            #expect(try gateway.request("PUT", "/v1/cache/k", headers: condition, text: "one").status == 201)
            let refused = try gateway.request("PUT", "/v1/cache/k", headers: condition, text: "two")
            expectProblem(refused, status: 412, slug: "precondition-failed")
            #expect(try gateway.request("GET", "/v1/cache/k").text == "one")
        }
    }

    @Test func ifMatchStarWritesOnlyWhenPresent() throws {
        try withGateway { gateway in
            let condition = [("If-Match", "*")]
            expectProblem(
                try gateway.request("PUT", "/v1/cache/k", headers: condition, text: "one"), status: 412)
            #expect(try gateway.request("GET", "/v1/cache/k").status == 404)
            _ = try gateway.request("PUT", "/v1/cache/k", text: "one")
            #expect(try gateway.request("PUT", "/v1/cache/k", headers: condition, text: "two").status == 204)
            #expect(try gateway.request("GET", "/v1/cache/k").text == "two")
        }
    }

    @Test func ifMatchWithAnEntityTagIsACompareAndSet() throws {
        try withGateway { gateway in
            let tag = try #require(try gateway.request("PUT", "/v1/cache/k", text: "one").header("ETag"))
            let updated = try gateway.request("PUT", "/v1/cache/k", headers: [("If-Match", tag)], text: "two")
            #expect(updated.status == 204)
            let stale = try gateway.request("PUT", "/v1/cache/k", headers: [("If-Match", tag)], text: "three")
            expectProblem(stale, status: 412)
            let weak = try gateway.request(
                "PUT", "/v1/cache/k", headers: [("If-Match", "W/" + (updated.header("ETag") ?? ""))],
                text: "four")
            expectProblem(weak, status: 412)
            #expect(try gateway.request("GET", "/v1/cache/k").text == "two")
            expectProblem(
                try gateway.request("DELETE", "/v1/cache/k", headers: [("If-Match", tag)]), status: 412)
            let current = try #require(updated.header("ETag"))
            #expect(
                try gateway.request("DELETE", "/v1/cache/k", headers: [("If-Match", "\"0\", \(current)")])
                    .status == 204)
        }
    }

    @Test func ifNoneMatchOnAReadAnswers304WhenUnchanged() throws {
        try withGateway { gateway in
            let tag = try #require(try gateway.request("PUT", "/v1/cache/k", text: "one").header("ETag"))
            let unchanged = try gateway.request("GET", "/v1/cache/k", headers: [("If-None-Match", tag)])
            #expect(unchanged.status == 304)
            #expect(unchanged.header("ETag") == tag)
            #expect(unchanged.body.isEmpty)
            // RFC 9110 allows a Content-Length on a 304 only if it is the representation's.
            #expect(unchanged.header("Content-Length").map { $0 == "3" } ?? true)
            _ = try gateway.request("PUT", "/v1/cache/k", text: "two")
            let changed = try gateway.request("GET", "/v1/cache/k", headers: [("If-None-Match", tag)])
            #expect(changed.status == 200)
            #expect(changed.text == "two")
        }
    }

    @Test(arguments: ["abc", "\"unterminated", "W/abc", "\"a\"b\""])
    func refusesAMalformedEntityTag(tag: String) throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/k", text: "one")
            expectProblem(
                try gateway.request("PUT", "/v1/cache/k", headers: [("If-Match", tag)], text: "two"),
                status: 400)
            #expect(try gateway.request("GET", "/v1/cache/k").text == "one")
        }
    }
}
