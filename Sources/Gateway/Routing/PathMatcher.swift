/// The templates of a route table compiled into flat arrays of plain values, so that matching a
/// path against the routes allocates nothing and retains nothing: each route compares its
/// literals with the path's segments byte by byte, and takes its parameters' bounds.
struct PathMatcher: Sendable {
    /// What one segment of a template takes.
    private enum Kind: UInt8 {
        case literal, parameter, keyParameter, remainder
    }

    /// One segment: a literal's bytes are `literals[start..<start + count]`.
    private struct Segment {
        let kind: Kind
        let start: Int
        let count: Int
    }

    /// One route's template: its segments are `segments[start..<start + count]`.
    private struct Shape {
        let start: Int
        let count: Int
        let takesRemainder: Bool
    }

    private let shapes: [Shape]
    private let segments: [Segment]
    private let literals: [UInt8]

    /// A matcher of `templates`, tried in order.
    init(_ templates: [PathTemplate]) {
        var shapes: [Shape] = []
        var segments: [Segment] = []
        var literals: [UInt8] = []
        for template in templates {
            shapes.append(
                Shape(
                    start: segments.count, count: template.segments.count,
                    takesRemainder: template.segments.last == .remainder))
            for segment in template.segments {
                switch segment {
                case .literal(let bytes):
                    segments.append(Segment(kind: .literal, start: literals.count, count: bytes.count))
                    literals += bytes
                case .parameter(let isKey):
                    segments.append(Segment(kind: isKey ? .keyParameter : .parameter, start: 0, count: 0))
                case .remainder:
                    segments.append(Segment(kind: .remainder, start: 0, count: 0))
                }
            }
        }
        self.shapes = shapes
        self.segments = segments
        self.literals = literals
    }

    /// What matching a path found.
    enum Outcome {
        /// The route at this index of the table, with the path's parameters.
        case route(Int, PathParameters)
        /// No route takes the path.
        case none
        /// The path holds a raw space or control byte, which must be percent-encoded.
        case invalidByte
    }

    /// The first route that `path` (starting with `/`) matches, with its parameters. Routes
    /// that take the rest of the path are skipped when the path's first segment is `reserved`,
    /// and the others when they have not as many segments as the path: only routes of the
    /// path's length are read. O(path + routes × segments tried).
    func match(_ path: ArraySlice<UInt8>, reserving reserved: [UInt8]) -> Outcome {
        path.withUnsafeBufferPointer { path in
            shapes.withUnsafeBufferPointer { shapes in
                segments.withUnsafeBufferPointer { segments in
                    literals.withUnsafeBufferPointer { literals in
                        // Each segment follows a slash.
                        var segmentCount = 0
                        for byte in path where byte == UInt8(ascii: "/") {
                            segmentCount += 1
                        }
                        for route in shapes.indices {
                            let shape = shapes[route]
                            if shape.takesRemainder {
                                if Self.startsWithSegment(path, reserved) { continue }
                            } else if shape.count != segmentCount {
                                continue
                            }
                            let template = UnsafeBufferPointer(
                                rebasing: segments[shape.start..<(shape.start + shape.count)])
                            switch Self.match(path, template, literals) {
                            case .route(_, let parameters): return .route(route, parameters)
                            case .invalidByte: return .invalidByte
                            case .none: continue
                            }
                        }
                        // A path no route takes may still hold a byte that makes it a 400.
                        return path.contains(where: Self.isInvalid) ? .invalidByte : .none
                    }
                }
            }
        }
    }

    /// Whether `byte` may not appear raw in a path: a space or a control byte.
    private static func isInvalid(_ byte: UInt8) -> Bool {
        byte <= UInt8(ascii: " ") || byte == 0x7F
    }

    /// What `path` gives one template's `segments`. Reads each segment of the path once and
    /// stops at the first that differs; a match has read every byte, and checked it is valid.
    private static func match(
        _ path: UnsafeBufferPointer<UInt8>, _ segments: UnsafeBufferPointer<Segment>,
        _ literals: UnsafeBufferPointer<UInt8>
    ) -> Outcome {
        var parameters = PathParameters()
        // Where the next segment starts; past the end once the path's last one is read.
        var start = 1
        for segment in segments {
            if segment.kind == .remainder {
                let rest = min(start, path.count)..<path.count
                guard !path[rest].contains(where: isInvalid) else { return .invalidByte }
                parameters.append(rest, isKey: false)
                return .route(0, parameters)
            }
            guard start <= path.count else { return .none }
            var end = start
            while end < path.count && path[end] != UInt8(ascii: "/") {
                guard !isInvalid(path[end]) else { return .invalidByte }
                end += 1
            }
            switch segment.kind {
            case .literal:
                guard end - start == segment.count else { return .none }
                for offset in 0..<segment.count where path[start + offset] != literals[segment.start + offset]
                {
                    return .none
                }
            case .parameter, .keyParameter:
                parameters.append(start..<end, isKey: segment.kind == .keyParameter)
            case .remainder:
                preconditionFailure("taken above")
            }
            start = end + 1
        }
        return start == path.count + 1 ? .route(0, parameters) : .none
    }

    /// Whether the path's first segment is `segment`.
    private static func startsWithSegment(_ path: UnsafeBufferPointer<UInt8>, _ segment: [UInt8]) -> Bool {
        guard path.count > segment.count else { return false }
        for offset in segment.indices where path[1 + offset] != segment[offset] {
            return false
        }
        return path.count == segment.count + 1 || path[segment.count + 1] == UInt8(ascii: "/")
    }
}
