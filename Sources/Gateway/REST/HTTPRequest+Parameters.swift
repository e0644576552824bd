import Keyspace
import MicroHTTPD

extension HTTPRequest {
    /// The query parameters by name, when each is one of `allowed` and appears at most once.
    ///
    /// An unknown parameter is refused rather than ignored: a typo such as `?tll=5` must not
    /// silently store a key that never expires.
    func parameters(allowed: Set<String>) throws -> [String: String] {
        var parameters: [String: String] = [:]
        guard hasQuery else { return parameters }
        for item in try queryItems() {
            guard allowed.contains(item.name) else {
                let known =
                    allowed.isEmpty
                    ? "this endpoint takes none" : "known: \(allowed.sorted().joined(separator: ", "))"
                throw GatewayError.badRequest("Unknown query parameter '\(item.name)'; \(known).")
            }
            guard parameters.updateValue(item.value, forKey: item.name) == nil else {
                throw GatewayError.badRequest("The query parameter '\(item.name)' is given more than once.")
            }
        }
        return parameters
    }

    /// The checked `Content-Type` of the body, or `nil` when the header is absent; given more
    /// than once, it is a 400 (RFC 9110, section 8.3, allows one media type).
    func contentType() throws(GatewayError) -> String? {
        guard let first = header("Content-Type") else { return nil }
        guard headerValues("Content-Type").count == 1 else {
            throw .badRequest("Content-Type is given more than once.")
        }
        return try MediaType.validate(first)
    }

    /// Every value of a precondition header, or `nil` when it is absent: one cheap lookup
    /// when it is, as on most requests.
    func preconditionValues(_ header: StaticString) -> [String]? {
        guard self.header(header) != nil else { return nil }
        return headerValues(header)
    }

    /// The versions a precondition header names, or `nil` when the header is absent.
    func preconditionVersions(_ header: StaticString, weakMatches: Bool) throws(GatewayError)
        -> WriteCondition.Versions?
    {
        guard let values = preconditionValues(header) else { return nil }
        return try EntityTag.versions(in: values, weakMatches: weakMatches)
    }

    /// The write condition of `If-Match` and `If-None-Match`.
    func writeCondition() throws(GatewayError) -> WriteCondition {
        WriteCondition(
            ifMatch: try preconditionVersions("If-Match", weakMatches: false),
            ifNoneMatch: try preconditionVersions("If-None-Match", weakMatches: true))
    }
}
