import KeygateTestSupport
import Keyspace
import Testing

@Suite("Request framing and bad bytes")
struct FramingTests {
    /// A PUT of `body` to `/v1/cache/k` with `headers` as raw lines, followed on the same
    /// connection by a PUT to `/v1/cache/smuggled` that a reader framing the first request
    /// differently would run.
    private static func smuggling(headers: String, body: String) -> String {
        "PUT /v1/cache/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\(headers)\r\n\(body)"
            + "PUT /v1/cache/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\nz"
    }

    @Test(
        arguments: [
            (
                "Transfer-Encoding then Content-Length",
                smuggling(
                    headers: "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                    body: "3\r\nabc\r\n0\r\n\r\n")
            ),
            (
                "Content-Length covering a hidden request",
                smuggling(
                    headers: "Content-Length: 77\r\nTransfer-Encoding: chunked\r\n", body: "0\r\n\r\n")
            ),
            (
                "chunked twice",
                smuggling(
                    headers: "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                    body: "3\r\nabc\r\n0\r\n\r\n")
            ),
            (
                "two different Content-Lengths",
                smuggling(headers: "Content-Length: 3\r\nContent-Length: 5\r\n", body: "abcde")
            ),
            (
                "two equal Content-Lengths",
                smuggling(headers: "Content-Length: 3\r\nContent-Length: 3\r\n", body: "abc")
            ),
            ("two Hosts", smuggling(headers: "Host: other\r\nContent-Length: 3\r\n", body: "abc")),
            (
                "a space before the colon",
                smuggling(headers: "Content-Length : 77\r\n", body: "")
            ),
            (
                "a folded line",
                smuggling(
                    headers: "Content-Type: text/plain\r\n ; charset=utf-8\r\nContent-Length: 3\r\n",
                    body: "abc")
            ),
        ])
    func refusesConflictingFramingAndCloses(reason: String, request: String) throws {
        try withGateway { gateway in
            let client = try gateway.client()
            try client.send(request)
            let response = try client.readResponse(method: "PUT")
            expectProblem(response, status: 400, slug: "bad-request")
            #expect(response.header("Connection") == "close", "\(reason)")
            #expect(client.isClosedByServer(), "\(reason)")
            #expect(gateway.keyspace.count == 0, "\(reason)")
        }
    }

    @Test func refusesTwoContentTypes() throws {
        try withGateway { gateway in
            let headers = [("Content-Type", "text/plain"), ("Content-Type", "application/json")]
            expectProblem(
                try gateway.request("PUT", "/v1/cache/k", headers: headers, text: "{}"), status: 400,
                slug: "bad-request")
            expectProblem(
                try gateway.request("POST", "/v1/queues/q", headers: headers, text: "{}"), status: 400,
                slug: "bad-request")
            #expect(gateway.keyspace.count == 0)
        }
    }

    @Test(arguments: ["a b", "a\u{01}b", "a\tb", "a\u{7F}b"])
    func refusesRawSpacesAndControlBytesInTheTarget(segment: String) throws {
        try withGateway { gateway in
            expectProblem(
                try gateway.request("PUT", "/v1/cache/\(segment)", text: "v"), status: 400,
                slug: "bad-request")
            #expect(gateway.keyspace.count == 0)
        }
    }

    @Test func servesALoneChunkedCodingInAnyCase() throws {
        try withGateway { gateway in
            let client = try gateway.client()
            try client.send(
                "PUT /v1/cache/k HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
                    + "3\r\nabc\r\n0\r\n\r\n")
            #expect(try client.readResponse(method: "PUT").status == 201)
            #expect(try client.request("GET", "/v1/cache/k").text == "abc")
        }
    }
}
