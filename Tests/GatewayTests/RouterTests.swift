import Keyspace
import MicroHTTPD
import Testing

@testable import Gateway

@Suite("Route table")
struct RouterTests {
    private static let routes = Gateway<KeyspaceEngine>.makeRoutes()

    /// The label of the route `method` and `path` match, and the raw segments of its parameters.
    private func route(_ method: HTTPMethod, _ path: String) throws(GatewayError) -> (String, [String]) {
        let match = try Self.routes.route(method, path: Array(path.utf8)[...])
        let parameters = (0..<match.parameters.count).map {
            String(decoding: match[$0], as: UTF8.self)
        }
        return (Self.routes.routes[match.index].template.label, parameters)
    }

    @Test func matchesEveryEndpoint() throws {
        #expect(try route(.get, "/v1/cache/k") == ("/v1/cache/{key}", ["k"]))
        #expect(try route(.put, "/v1/cache/a%2Fb") == ("/v1/cache/{key}", ["a%2Fb"]))
        #expect(try route(.delete, "/v1/cache/k") == ("/v1/cache/{key}", ["k"]))
        #expect(try route(.get, "/v1/cache/k/ttl") == ("/v1/cache/{key}/ttl", ["k"]))
        #expect(try route(.put, "/v1/cache/ttl/ttl") == ("/v1/cache/{key}/ttl", ["ttl"]))
        #expect(try route(.get, "/v1/cache/") == ("/v1/cache/{key}", [""]))
        #expect(try route(.post, "/v1/queues/q/pop") == ("/v1/queues/{name}/pop", ["q"]))
        #expect(try route(.get, "/v1/keys") == ("/v1/keys", []))
        #expect(try route(.head, "/healthz") == ("/healthz", []))
        #expect(try route(.get, "/openapi.yaml") == ("/openapi.yaml", []))
        #expect(try route(.get, "/") == ("/{file}", [""]))
        #expect(try route(.get, "/app/main.js") == ("/{file}", ["app/main.js"]))
        #expect(try route(.get, "/healthz/x") == ("/{file}", ["healthz/x"]))
        #expect(try route(.options, "/v1/keys") == ("/v1/keys", []))
    }

    @Test(arguments: [
        "/v1", "/v1/", "/v1/cache", "/v1/cache/a/b", "/v1/cache/a/ttl/", "/v1/keys/", "*", "", "v1/keys",
    ])
    func refusesUnknownPaths(path: String) {
        #expect {
            try route(.get, path)
        } throws: { error in
            guard case .notFound = error as? GatewayError else { return false }
            return true
        }
    }

    @Test func refusesMethodsAnEndpointDoesNotAllowListingTheOthers() {
        #expect {
            try route(.post, "/v1/cache/k")
        } throws: { error in
            guard case .methodNotAllowed(_, let allowed) = error as? GatewayError else { return false }
            return allowed.allowHeader == "GET, HEAD, PUT, DELETE, OPTIONS"
        }
        #expect(throws: GatewayError.self) { try route(.delete, "/v1/cache/k/ttl") }
        #expect(throws: GatewayError.self) { try route(.put, "/v1/keys") }
        #expect(throws: GatewayError.self) { try route(.get, "/v1/ws/") }
        #expect(throws: GatewayError.self) { try route(HTTPMethod("BREW"), "/") }
    }

    @Test func labelsEveryRouteAsTheContractNamesItsPath() {
        #expect(
            Self.routes.labels == [
                "/v1/cache/{key}", "/v1/cache/{key}/ttl", "/v1/queues/{name}", "/v1/queues/{name}/pop",
                "/v1/queues/{name}/receive", "/v1/queues/{name}/leases/{receipt}", "/v1/queues/{name}/ack",
                "/v1/queues/{name}/policy", "/v1/queues/{name}/messages", "/v1/pop", "/v1/keys", "/v1/events",
                "/v1/ws", "/v1/tickets",
                "/healthz",
                "/readyz", "/metrics", "/openapi.yaml", "/{file}", "unmatched",
            ])
    }

    @Test func namesWhichParametersAreKeys() throws {
        let match = try Self.routes.route(.get, path: Array("/v1/queues/q%2F1/messages".utf8)[...])
        #expect(match.keySegments.map { String(decoding: $0, as: UTF8.self) } == ["q%2F1"])
        let file = try Self.routes.route(.get, path: Array("/a/b".utf8)[...])
        #expect(file.keySegments.isEmpty)
    }

    @Test func methodSetsFollowTheCommonMethodIndex() {
        let all: MethodSet = [.get, .head, .put, .post, .delete, .options]
        #expect(all.methods == [.get, .head, .put, .post, .delete, .options])
        for method in all.methods {
            #expect(all.contains(method))
            #expect(!MethodSet().contains(method))
        }
        #expect(!all.contains(.patch))
        #expect(!all.contains(HTTPMethod("BREW")))
        #expect(MethodSet.put.contains(.put) && !MethodSet.put.contains(.post))
    }
}
