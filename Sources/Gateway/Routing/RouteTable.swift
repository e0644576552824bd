import MicroHTTPD

/// The endpoints of the API in the order they are tried, from which everything about routing
/// follows: matching, 404 and 405, `Allow`, the methods of a CORS preflight, and the label of
/// each request in metrics.
struct RouteTable<Handler: Sendable>: Sendable {
    /// The routes, in the order they are tried.
    let routes: [Route<Handler>]
    /// A first path segment that only the routes own: a path under it that none matches is a
    /// 404, never handed to a catch-all route (such as the static files).
    private let reservedSegment: [UInt8]
    /// The routes' templates, compiled.
    private let matcher: PathMatcher

    /// A table of `routes`; paths under `/reservedSegment/` belong to them alone.
    init(reserving reservedSegment: String, _ routes: [Route<Handler>]) {
        self.routes = routes
        self.reservedSegment = Array(reservedSegment.utf8)
        matcher = PathMatcher(routes.map(\.template))
    }

    /// The label of a request that matched no route (404) or not with its method (405).
    static var unmatchedLabel: String { "unmatched" }

    /// The label of each route by index, and `unmatchedLabel` after them.
    var labels: [String] {
        routes.map(\.template.label) + [Self.unmatchedLabel]
    }

    /// The route of a method and a raw path, or the 404, 405 or 400 it gets. O(path + routes).
    func route(_ method: HTTPMethod, path: ArraySlice<UInt8>) throws(GatewayError) -> RouteMatch {
        guard path.first == UInt8(ascii: "/") else {
            throw .notFound("The request target must be a path starting with '/'.")
        }
        switch matcher.match(path, reserving: reservedSegment) {
        case .route(let index, let parameters):
            let methods = routes[index].methods
            guard methods.contains(method) else {
                throw .methodNotAllowed(method, allowed: methods)
            }
            return RouteMatch(index: index, path: path, parameters: parameters)
        case .invalidByte:
            // libmicrohttpd 0.9.75 takes the request line's last space as the end of the
            // target, so a raw space (or a control byte) reaches here; RFC 9112, section 3.2,
            // says not to guess what such a target meant.
            throw .badRequest(
                "The request target has a space or a control byte; such bytes must be percent-encoded.")
        case .none:
            throw .notFound(
                "No endpoint at '\(String(decoding: path, as: UTF8.self))'. See /openapi.yaml for the API.")
        }
    }
}
