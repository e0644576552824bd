import MicroHTTPD

/// Maps a method and a raw path to a `Route`: pure, so it is tested without sockets.
///
/// Paths are split on `/` before any decoding, so `a%2Fb` stays one key segment. Everything
/// works on the path's bytes: routing is on every request and allocates nothing.
enum Router {
    /// The route of a request, or the 404 or 405 it gets.
    static func route(_ method: HTTPMethod, path: ArraySlice<UInt8>) throws(HTTPError) -> Route {
        let route = try match(path)
        guard route.allows(method) else {
            throw .methodNotAllowed(method, allowed: route.allowedMethods)
        }
        return route
    }

    private static func match(_ path: ArraySlice<UInt8>) throws(HTTPError) -> Route {
        guard path.first == UInt8(ascii: "/") else {
            throw .notFound("The request target must be a path starting with '/'.")
        }
        var segments = Segments(path)
        let first = segments.next().map(Name.init)
        let second = segments.next().map(Name.init)
        let third = segments.next()
        let fourth = segments.next().map(Name.init)
        let rest = segments.next()
        switch (first, second, third, fourth, rest) {
        case (.versionOne, .cache, let key?, nil, nil):
            return .cacheValue(key: key)
        case (.versionOne, .cache, let key?, .timeToLive, nil):
            return .cacheTimeToLive(key: key)
        case (.versionOne, .keys, nil, nil, nil):
            return .keys
        case (.versionOne, _, _, _, _):
            throw .notFound(
                "No endpoint at '\(String(decoding: path, as: UTF8.self))'. "
                    + "See /openapi.yaml for the API.")
        case (.health, nil, _, _, _):
            return .health
        case (.openAPI, nil, _, _, _):
            return .openAPI
        default:
            return .file(path: path)
        }
    }

    /// The segments of a path after its leading `/`, one at a time, without an array.
    private struct Segments {
        private var rest: ArraySlice<UInt8>?

        init(_ path: ArraySlice<UInt8>) {
            rest = path.dropFirst()
        }

        mutating func next() -> ArraySlice<UInt8>? {
            guard let text = rest else { return nil }
            guard let slash = text.firstIndex(of: UInt8(ascii: "/")) else {
                rest = nil
                return text
            }
            rest = text[(slash + 1)...]
            return text[..<slash]
        }
    }

    /// The path segments the routes are made of.
    private enum Name {
        case versionOne, cache, keys, timeToLive, health, openAPI, other

        init(_ segment: ArraySlice<UInt8>) {
            let candidate: (name: Name, literal: StaticString) =
                switch segment.count {
                case 2: (.versionOne, "v1")
                case 3: (.timeToLive, "ttl")
                case 4: (.keys, "keys")
                case 5: (.cache, "cache")
                case 7: (.health, "healthz")
                case 12: (.openAPI, "openapi.yaml")
                default: (.other, "")
                }
            let isMatch = candidate.literal.withUTF8Buffer { segment.elementsEqual($0) }
            self = isMatch ? candidate.name : .other
        }
    }
}
