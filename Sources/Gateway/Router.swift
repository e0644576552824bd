import MicroHTTPD

/// Maps a method and a raw path to a `Route`: pure, so it is tested without sockets.
///
/// Paths are split on `/` before any decoding, so `a%2Fb` stays one key segment. Routing runs
/// on every request, so it works on the path's bytes in place and allocates nothing.
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
        // libmicrohttpd 0.9.75 takes the request line's last space as the end of the target,
        // so a raw space (or a control byte) reaches here; RFC 9112, section 3.2, says not to
        // guess what such a target meant.
        guard !path.contains(where: { $0 <= UInt8(ascii: " ") || $0 == 0x7F }) else {
            throw .badRequest(
                "The request target has a space or a control byte; such bytes must be percent-encoded.")
        }
        let route: Route? = path.withUnsafeBufferPointer { bytes in
            var segments = Segments(bytes)
            let first = segments.next().map { Name(bytes[$0]) }
            let second = segments.next().map { Name(bytes[$0]) }
            let third = segments.next()
            let fourth = segments.next().map { Name(bytes[$0]) }
            let rest = segments.next()
            let keySegment = third.map {
                path[(path.startIndex + $0.lowerBound)..<(path.startIndex + $0.upperBound)]
            }
            switch (first, second, keySegment, fourth, rest) {
            case (.versionOne, .cache, let key?, nil, nil): return .cacheValue(key: key)
            case (.versionOne, .cache, let key?, .timeToLive, nil): return .cacheTimeToLive(key: key)
            case (.versionOne, .queues, let name?, nil, nil): return .queue(name: name)
            case (.versionOne, .queues, let name?, .pop, nil): return .queuePop(name: name)
            case (.versionOne, .queues, let name?, .messages, nil): return .queueMessages(name: name)
            case (.versionOne, .pop, nil, nil, nil): return .pop
            case (.versionOne, .keys, nil, nil, nil): return .keys
            case (.versionOne, .events, nil, nil, nil): return .events
            case (.versionOne, .webSocket, nil, nil, nil): return .webSocket
            case (.versionOne, _, _, _, _): return nil
            case (.health, nil, _, _, _): return .health
            case (.readiness, nil, _, _, _): return .readiness
            case (.metrics, nil, _, _, _): return .metrics
            case (.openAPI, nil, _, _, _): return .openAPI
            default: return .file(path: path)
            }
        }
        guard let route else {
            throw .notFound(
                "No endpoint at '\(String(decoding: path, as: UTF8.self))'. See /openapi.yaml for the API.")
        }
        return route
    }

    /// The bounds of a path's segments after its leading `/`, one at a time.
    private struct Segments {
        private let bytes: UnsafeBufferPointer<UInt8>
        private var start = 1

        init(_ bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func next() -> Range<Int>? {
            guard start <= bytes.count else { return nil }
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "/") {
                end += 1
            }
            defer { start = end + 1 }
            return start..<end
        }
    }

    /// The path segments the routes are made of.
    private enum Name {
        case versionOne, cache, keys, events, webSocket, timeToLive, queues, pop, messages, health, readiness
        case metrics, openAPI
        case other

        init(_ segment: Slice<UnsafeBufferPointer<UInt8>>) {
            // The length picks the few names worth comparing.
            self =
                switch segment.count {
                case 2 where Self.matches(segment, "v1"): .versionOne
                case 2 where Self.matches(segment, "ws"): .webSocket
                case 3 where Self.matches(segment, "ttl"): .timeToLive
                case 3 where Self.matches(segment, "pop"): .pop
                case 4 where Self.matches(segment, "keys"): .keys
                case 5 where Self.matches(segment, "cache"): .cache
                case 6 where Self.matches(segment, "queues"): .queues
                case 6 where Self.matches(segment, "events"): .events
                case 6 where Self.matches(segment, "readyz"): .readiness
                case 7 where Self.matches(segment, "healthz"): .health
                case 7 where Self.matches(segment, "metrics"): .metrics
                case 8 where Self.matches(segment, "messages"): .messages
                case 12 where Self.matches(segment, "openapi.yaml"): .openAPI
                default: .other
                }
        }

        private static func matches(_ segment: Slice<UnsafeBufferPointer<UInt8>>, _ literal: StaticString)
            -> Bool
        {
            literal.withUTF8Buffer { literal in
                var offset = 0
                while offset < literal.count && segment[segment.startIndex + offset] == literal[offset] {
                    offset += 1
                }
                return offset == literal.count
            }
        }
    }
}
