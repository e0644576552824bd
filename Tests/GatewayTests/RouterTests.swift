import MicroHTTPD
import Testing

@testable import Gateway

@Suite("Router")
struct RouterTests {
    private func route(_ method: HTTPMethod, _ path: String) throws(HTTPError) -> Route {
        try Router.route(method, path: Array(path.utf8)[...])
    }

    private func key(_ text: String) -> ArraySlice<UInt8> {
        Array(text.utf8)[...]
    }

    @Test func matchesEveryEndpoint() throws {
        #expect(try route(.get, "/v1/cache/k") == .cacheValue(key: key("k")))
        #expect(try route(.put, "/v1/cache/a%2Fb") == .cacheValue(key: key("a%2Fb")))
        #expect(try route(.delete, "/v1/cache/k") == .cacheValue(key: key("k")))
        #expect(try route(.get, "/v1/cache/k/ttl") == .cacheTimeToLive(key: key("k")))
        #expect(try route(.put, "/v1/cache/ttl/ttl") == .cacheTimeToLive(key: key("ttl")))
        #expect(try route(.get, "/v1/cache/") == .cacheValue(key: key("")))
        #expect(try route(.get, "/v1/keys") == .keys)
        #expect(try route(.head, "/healthz") == .health)
        #expect(try route(.get, "/openapi.yaml") == .openAPI)
        #expect(try route(.get, "/") == .file(path: key("/")))
        #expect(try route(.get, "/app/main.js") == .file(path: key("/app/main.js")))
        #expect(try route(.options, "/v1/keys") == .keys)
    }

    @Test(arguments: [
        "/v1", "/v1/", "/v1/cache", "/v1/cache/a/b", "/v1/cache/a/ttl/", "/v1/keys/", "*", "", "v1/keys",
    ])
    func refusesUnknownPaths(path: String) {
        #expect(throws: HTTPError.self) { try route(.get, path) }
    }

    @Test func refusesMethodsAnEndpointDoesNotAllow() {
        #expect(throws: HTTPError.self) { try route(.post, "/v1/cache/k") }
        #expect(throws: HTTPError.self) { try route(.delete, "/v1/cache/k/ttl") }
        #expect(throws: HTTPError.self) { try route(.put, "/v1/keys") }
        #expect(throws: HTTPError.self) { try route(HTTPMethod("BREW"), "/") }
    }
}
