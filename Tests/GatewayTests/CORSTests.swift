import Foundation
import Gateway
import KeygateTestSupport
import Testing

@Suite("CORS over HTTP")
struct CORSTests {
    static let allowed = "https://app.example.com"
    static let other = "https://evil.example.com"

    /// The names of a comma-separated header value, such as `Access-Control-Allow-Headers`.
    private static func names(in value: String?) -> Set<String> {
        Set((value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    private func withCORS(_ origins: [String], _ body: (GatewayFixture) throws -> Void) throws {
        try withGateway(realTime: true, configure: { $0.gateway.cors.origins = origins }, body)
    }

    @Test func anAllowedOriginMayReadAnswersAndTheirHeaders() throws {
        try withCORS([Self.allowed]) { gateway in
            let written = try gateway.request(
                "PUT", "/v1/cache/greeting", headers: [("Origin", Self.allowed)], text: "hello")
            #expect(written.status == 201)
            #expect(written.header("Access-Control-Allow-Origin") == Self.allowed)
            #expect(written.header("Vary") == "Origin")
            let exposed = Self.names(in: written.header("Access-Control-Expose-Headers"))
            #expect(exposed.isSuperset(of: ["Queue", "Content-Type", "Allow", "ETag"]))
            // Problems too: a page must be able to show the error it got.
            let missing = try gateway.request("GET", "/v1/cache/nope", headers: [("Origin", Self.allowed)])
            #expect(missing.status == 404)
            #expect(missing.header("Access-Control-Allow-Origin") == Self.allowed)
        }
    }

    @Test func aPreflightFromAnAllowedOriginIsGrantedTheRoutesMethods() throws {
        try withCORS([Self.allowed]) { gateway in
            let preflight = try gateway.request(
                "OPTIONS", "/v1/cache/greeting",
                headers: [
                    ("Origin", Self.allowed), ("Access-Control-Request-Method", "PUT"),
                    ("Access-Control-Request-Headers", "content-type, if-match"),
                ])
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Origin") == Self.allowed)
            #expect(preflight.header("Access-Control-Allow-Methods") == "GET, HEAD, PUT, DELETE, OPTIONS")
            let headers = Self.names(in: preflight.header("Access-Control-Allow-Headers"))
            #expect(
                headers == ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Last-Event-ID"])
            #expect(preflight.header("Access-Control-Max-Age") == "600")
            let pop = try gateway.request(
                "OPTIONS", "/v1/queues/jobs/pop",
                headers: [("Origin", Self.allowed), ("Access-Control-Request-Method", "POST")])
            #expect(pop.header("Access-Control-Allow-Methods") == "POST, OPTIONS")
        }
    }

    @Test func anotherOriginGetsNoCORSHeadersAndChangesNothingElse() throws {
        try withCORS([Self.allowed]) { gateway in
            let preflight = try gateway.request(
                "OPTIONS", "/v1/cache/greeting",
                headers: [("Origin", Self.other), ("Access-Control-Request-Method", "PUT")])
            #expect(preflight.status == 204)
            #expect(preflight.header("Allow") == "GET, HEAD, PUT, DELETE, OPTIONS")
            #expect(!preflight.headers.contains { $0.0.lowercased().hasPrefix("access-control-") })
            let answer = try gateway.request("GET", "/healthz", headers: [("Origin", Self.other)])
            #expect(answer.status == 200)
            #expect(!answer.headers.contains { $0.0.lowercased().hasPrefix("access-control-") })
            #expect(answer.header("Vary") == "Origin")
        }
    }

    @Test func withoutOriginsNothingIsAdded() throws {
        try withGateway { gateway in
            let preflight = try gateway.request(
                "OPTIONS", "/v1/cache/greeting",
                headers: [("Origin", Self.allowed), ("Access-Control-Request-Method", "PUT")])
            #expect(preflight.status == 204)
            #expect(!preflight.headers.contains { $0.0.lowercased().hasPrefix("access-control-") })
            #expect(preflight.header("Vary") == nil)
        }
    }

    @Test func aWildcardAllowsEveryOrigin() throws {
        try withCORS(["*"]) { gateway in
            let answer = try gateway.request("GET", "/healthz", headers: [("Origin", Self.other)])
            #expect(answer.header("Access-Control-Allow-Origin") == "*")
        }
    }

    @Test func eventStreamsAndParkedPopsCarryTheHeaders() throws {
        try withCORS([Self.allowed]) { gateway in
            // As a browser's EventSource asks for a stream of another origin.
            let stream = try gateway.client()
            try stream.send(
                TestHTTPClient.encode(
                    "GET", "/v1/events",
                    headers: [("Origin", Self.allowed), ("Accept", "text/event-stream")]))
            let head = try stream.readStreamHead()
            #expect(head.status == 200)
            #expect(head.header("Content-Type") == "text/event-stream")
            #expect(head.header("Access-Control-Allow-Origin") == Self.allowed)

            let timedOut = try gateway.request(
                "POST", "/v1/queues/jobs/pop?wait=0.1", headers: [("Origin", Self.allowed)])
            #expect(timedOut.status == 204)
            #expect(timedOut.header("Access-Control-Allow-Origin") == Self.allowed)

            let waiting = try gateway.client()
            try waiting.send(
                TestHTTPClient.encode(
                    "POST", "/v1/queues/jobs/pop?wait=10", headers: [("Origin", Self.allowed)]))
            try gateway.waitForConsumers(1, on: "jobs")
            _ = try gateway.request("POST", "/v1/queues/jobs", text: "job")
            let delivered = try waiting.readResponse(method: "POST")
            #expect(delivered.text == "job")
            #expect(delivered.header("Access-Control-Allow-Origin") == Self.allowed)
            #expect(delivered.header("Access-Control-Expose-Headers")?.contains("Queue") == true)
        }
    }

    @Test(
        arguments: [
            (origin: nil, expected: 101), (origin: Self.allowed, expected: 101),
            (origin: Self.other, expected: 403), (origin: "http://127.0.0.1:{port}", expected: 101),
            (origin: "http://localhost:{port}", expected: 403),
        ] as [(origin: String?, expected: Int)])
    func webSocketsFromOtherOriginsAreRefused(origin: String?, expected: Int) throws {
        try withCORS([Self.allowed]) { gateway in
            var headers = [
                ("Host", "127.0.0.1:\(gateway.port)"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ]
            if let origin {
                headers.append(("Origin", origin.replacing("{port}", with: String(gateway.port))))
            }
            let client = try gateway.client()
            try client.send(TestHTTPClient.encode("GET", "/v1/ws", headers: headers))
            let head = try client.readStreamHead()
            #expect(head.status == expected)
            if expected == 403 {
                #expect(head.header("Content-Type") == "application/problem+json")
            }
        }
    }
}
