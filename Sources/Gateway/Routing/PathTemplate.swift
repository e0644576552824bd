/// A route's path as declared, such as `/v1/cache/{key}/ttl`: literal segments and parameters.
/// A parameter named `key` or `name` names a key or queue; the last segment may be
/// `{name...}`, which takes the rest of the path.
///
/// Matching works on the path's bytes in place, before any decoding (so `a%2Fb` stays one
/// segment), and allocates nothing.
struct PathTemplate: Sendable {
    /// One segment of the template.
    enum Segment: Sendable, Equatable {
        /// These bytes exactly.
        case literal([UInt8])
        /// Any bytes but `/`, possibly none; `isKey` when it names a key or queue.
        case parameter(isKey: Bool)
        /// Everything left, slashes included.
        case remainder
    }

    /// The template as declared.
    let text: String
    /// The route's name in metrics and logs: the template as `openapi.yaml` writes its path,
    /// `{name...}` written `{name}`.
    let label: String
    /// Its segments, after the leading `/`.
    let segments: [Segment]

    /// Parses a template; a malformed one is a bug in the route table.
    init(_ text: String) {
        precondition(text.first == "/", "a path template starts with '/': \(text)")
        self.text = text
        label = text.replacing("...}", with: "}")
        let parts = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        segments = parts.enumerated().map { index, part in
            guard part.first == "{", part.last == "}" else { return .literal(Array(part.utf8)) }
            let name = part.dropFirst().dropLast()
            if name.hasSuffix("...") {
                precondition(index == parts.count - 1, "only the last segment takes the rest: \(text)")
                return .remainder
            }
            return .parameter(isKey: name == "key" || name == "name")
        }
    }

    /// The parameters `path` gives the template, or `nil` when it does not match. O(path).
    func match(_ path: ArraySlice<UInt8>) -> PathParameters? {
        guard path.first == UInt8(ascii: "/") else { return nil }
        var parameters = PathParameters(path: path)
        // Where the next segment starts; past the end once the path's last segment is read.
        var start = path.startIndex + 1
        for segment in segments {
            if segment == .remainder {
                parameters.append(start..<max(start, path.endIndex), isKey: false)
                return parameters
            }
            guard start <= path.endIndex else { return nil }
            let end = path[start...].firstIndex(of: UInt8(ascii: "/")) ?? path.endIndex
            switch segment {
            case .literal(let bytes):
                guard path[start..<end].elementsEqual(bytes) else { return nil }
            case .parameter(let isKey):
                parameters.append(start..<end, isKey: isKey)
            case .remainder:
                preconditionFailure("handled above")
            }
            start = end + 1
        }
        return start == path.endIndex + 1 ? parameters : nil
    }
}
