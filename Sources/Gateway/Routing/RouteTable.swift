import MicroHTTPD

/// The endpoints of the API in the order they are tried, from which everything about routing
/// follows: matching, 404 and 405, `Allow`, the methods of a CORS preflight, and the label of
/// each request in metrics.
struct RouteTable<Handler: Sendable>: Sendable {
    /// A matched request: its route, the route's index in the table, and the path's parameters.
    struct Match {
        /// The route.
        let route: Route<Handler>
        /// Its index in `routes`: its series in metrics.
        let index: Int
        /// The path's parameters.
        let parameters: PathParameters
    }

    /// The routes, in the order they are tried.
    let routes: [Route<Handler>]
    /// A first path segment that only the routes own: a path under it that none matches is a
    /// 404, never handed to a catch-all route (such as the static files).
    private let reservedSegment: [UInt8]

    /// A table of `routes`; paths under `/reservedSegment/` belong to them alone.
    init(reserving reservedSegment: String, _ routes: [Route<Handler>]) {
        self.routes = routes
        self.reservedSegment = Array(reservedSegment.utf8)
    }

    /// The label of a request that matched no route (404) or not with its method (405).
    static var unmatchedLabel: String { "unmatched" }

    /// The label of each route by index, and `unmatchedLabel` after them.
    var labels: [String] {
        routes.map(\.template.label) + [Self.unmatchedLabel]
    }

    /// The route of a method and a raw path, or the 404, 405 or 400 it gets. O(routes × path).
    func route(_ method: HTTPMethod, path: ArraySlice<UInt8>) throws(GatewayError) -> Match {
        guard path.first == UInt8(ascii: "/") else {
            throw .notFound("The request target must be a path starting with '/'.")
        }
        // libmicrohttpd 0.9.75 takes the request line's last space as the end of the target,
        // so a raw space (or a control byte) reaches here; RFC 9112, section 3.2, says not to
        // guess what such a target meant.
        guard !path.contains(where: { $0 <= UInt8(ascii: " ") || $0 == 0x7F }) else {
            throw .badRequest(
                "The request target has a space or a control byte; such bytes must be percent-encoded.")
        }
        let isReserved = isUnderReservedSegment(path)
        for (index, route) in routes.enumerated() {
            if isReserved && route.template.segments.first == .remainder { continue }
            guard let parameters = route.template.match(path) else { continue }
            guard route.methods.contains(method) else {
                throw .methodNotAllowed(method, allowed: route.methods)
            }
            return Match(route: route, index: index, parameters: parameters)
        }
        throw .notFound(
            "No endpoint at '\(String(decoding: path, as: UTF8.self))'. See /openapi.yaml for the API.")
    }

    /// Whether the path's first segment is the reserved one.
    private func isUnderReservedSegment(_ path: ArraySlice<UInt8>) -> Bool {
        let first = path.dropFirst().prefix { $0 != UInt8(ascii: "/") }
        return first.elementsEqual(reservedSegment)
    }
}
