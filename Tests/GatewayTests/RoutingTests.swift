import KeygateTestSupport
import Testing

@Suite("Routes, errors and files over HTTP")
struct RoutingTests {
    @Test(arguments: [
        "/v1/nothing", "/v1/cache", "/v1/cache/k/other", "/v1/cache/k/ttl/x", "/v1/keys/x", "/v1",
    ])
    func answers404ForUnknownEndpoints(path: String) throws {
        try withGateway { gateway in
            expectProblem(try gateway.request("GET", path), status: 404, slug: "not-found")
        }
    }

    @Test(
        arguments: [
            ("POST", "/v1/cache/k", "GET, HEAD, PUT, DELETE, OPTIONS"),
            ("PATCH", "/v1/cache/k", "GET, HEAD, PUT, DELETE, OPTIONS"),
            ("DELETE", "/v1/cache/k/ttl", "GET, HEAD, PUT, OPTIONS"),
            ("PUT", "/v1/keys", "GET, HEAD, OPTIONS"),
            ("POST", "/healthz", "GET, HEAD, OPTIONS"),
            ("DELETE", "/index.html", "GET, HEAD, OPTIONS"),
        ])
    func answers405WithTheAllowedMethods(method: String, path: String, allowed: String) throws {
        try withGateway { gateway in
            let response = try gateway.request(method, path)
            expectProblem(response, status: 405, slug: "method-not-allowed")
            #expect(response.header("Allow") == allowed)
        }
    }

    @Test func answersOptionsWithTheAllowedMethods() throws {
        try withGateway { gateway in
            let response = try gateway.request("OPTIONS", "/v1/cache/k")
            #expect(response.status == 204)
            #expect(response.header("Allow") == "GET, HEAD, PUT, DELETE, OPTIONS")
        }
    }

    /// Found by schemathesis: OPTIONS answered 204 for a key no other method accepts.
    @Test(
        arguments: [
            "/v1/cache/" + String(repeating: "k", count: 1025), "/v1/cache/%00/ttl", "/v1/queues/%C2%83",
            "/v1/queues/%FF/messages", "/v1/queues/%zz/pop",
        ])
    func refusesOptionsForAnInvalidKey(path: String) throws {
        try withGateway { gateway in
            let response = try gateway.request("OPTIONS", path)
            expectProblem(response, status: 400)
            #expect(response.header("Allow") == nil)
        }
    }

    @Test func reportsHealth() throws {
        try withGateway { gateway in
            let response = try gateway.request("GET", "/healthz")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            #expect(
                response.text
                    == #"{"memory":{"evicted":0,"limit":null,"policy":"allkeys-tinylfu","used":0},"#
                    + #""persistence":{"enabled":false},"status":"ok"}"#)
        }
    }

    @Test func servesTheOpenAPIDocument() throws {
        try withGateway { gateway in
            let response = try gateway.request("GET", "/openapi.yaml")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/yaml")
            #expect(response.text.hasPrefix("openapi: 3.1"))
        }
    }

    @Test func servesFilesWithTheirMediaTypes() throws {
        try withGateway { gateway in
            let index = try gateway.request("GET", "/")
            #expect(index.status == 200)
            #expect(index.header("Content-Type") == "text/html; charset=utf-8")
            #expect(index.text.contains("<title>Keygate</title>"))
            #expect(index.header("X-Content-Type-Options") == "nosniff")
            let style = try gateway.request("GET", "/style.css")
            #expect(style.header("Content-Type") == "text/css; charset=utf-8")
            #expect(try gateway.request("GET", "/docs/").text == "docs")
            let folder = try gateway.request("GET", "/docs")
            #expect(folder.status == 301)
            #expect(folder.header("Location") == "/docs/")
            expectProblem(try gateway.request("GET", "/missing.js"), status: 404)
        }
    }

    @Test(
        arguments: [
            "/../Package.swift", "/%2e%2e/Package.swift", "/%2E%2E/%2E%2E/etc/passwd", "/docs/../../x",
            "/docs/..%2F..%2Fx", "/docs%2F..%2F..%2Fetc%2Fpasswd", "/./index.html", "//etc/passwd",
            "/index.html%00.css",
        ])
    func neverServesAFileOutsideThePublicFolder(path: String) throws {
        try withGateway { gateway in
            let response = try gateway.request("GET", path)
            #expect(response.status == 404)
        }
    }

    @Test func keepsAConnectionAliveAndAnswersPipelinedRequestsInOrder() throws {
        try withGateway { gateway in
            let client = try gateway.client()
            var batch: [UInt8] = []
            for index in 0..<20 {
                batch += TestHTTPClient.encode("PUT", "/v1/cache/p\(index)", body: Array("v\(index)".utf8))
                batch += TestHTTPClient.encode("GET", "/v1/cache/p\(index)")
                batch += TestHTTPClient.encode("GET", "/v1/cache/absent")
            }
            try client.send(batch)
            for index in 0..<20 {
                #expect(try client.readResponse().status == 201)
                #expect(try client.readResponse().text == "v\(index)")
                #expect(try client.readResponse().status == 404)
            }
            #expect(try client.request("GET", "/healthz").status == 200)
        }
    }
}
