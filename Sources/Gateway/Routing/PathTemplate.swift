/// A route's path as declared, such as `/v1/cache/{key}/ttl`: literal segments and parameters.
/// A parameter named `key` or `name` names a key or queue; the last segment may be
/// `{name...}`, which takes the rest of the path. `RouteTable` compiles the templates of all
/// routes into one matcher.
struct PathTemplate: Sendable {
    /// What a segment of the template takes.
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
            guard name.hasSuffix("...") else { return .parameter(isKey: name == "key" || name == "name") }
            precondition(index == parts.count - 1, "only the last segment takes the rest: \(text)")
            return .remainder
        }
        precondition(
            segments.count(where: { $0 != .remainder && !$0.isLiteral }) <= PathParameters.capacity,
            "a template has at most \(PathParameters.capacity) parameters: \(text)")
    }
}

extension PathTemplate.Segment {
    /// Whether it is a literal.
    var isLiteral: Bool {
        if case .literal = self { return true }
        return false
    }
}
