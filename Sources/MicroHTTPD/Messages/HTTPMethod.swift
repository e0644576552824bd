/// An HTTP request method.
///
/// Methods are an open set (RFC 9110 lets servers see any token), so this is a struct with the
/// common methods as static members rather than an enum. The common ones also carry a small
/// tag, so comparing them costs an integer compare instead of a string compare.
package struct HTTPMethod: Hashable, Sendable, CustomStringConvertible {
    private enum Tag: UInt8 {
        case get, head, put, post, delete, options, patch, other
    }

    /// The method token exactly as the client sent it (methods are case-sensitive).
    package let rawValue: String
    private let tag: Tag

    /// Creates a method from its token.
    package init(_ rawValue: String) {
        self.rawValue = rawValue
        tag =
            switch rawValue {
            case "GET": .get
            case "HEAD": .head
            case "PUT": .put
            case "POST": .post
            case "DELETE": .delete
            case "OPTIONS": .options
            case "PATCH": .patch
            default: .other
            }
    }

    /// The method token.
    package var description: String { rawValue }

    /// A number from 0 to `commonNames.count - 1`, the same for every method of one name in
    /// `commonNames`: an index for tables by method.
    package var commonIndex: Int { Int(tag.rawValue) }

    /// Whether this is `HEAD`, whose answers have no body; cheaper than `== .head`.
    package var isHead: Bool { tag == .head }

    /// The token of each common method by `commonIndex`, and `OTHER` for any other method, so
    /// that counting by method keeps a bounded number of series whatever clients send.
    package static let commonNames = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "OTHER"]

    /// Whether two methods are the same token.
    package static func == (lhs: HTTPMethod, rhs: HTTPMethod) -> Bool {
        lhs.tag == rhs.tag && (lhs.tag != .other || lhs.rawValue == rhs.rawValue)
    }

    /// Hashes the token.
    package func hash(into hasher: inout Hasher) {
        hasher.combine(rawValue)
    }

    /// `GET`: read a resource.
    package static let get = HTTPMethod("GET")
    /// `HEAD`: read a resource's headers only.
    package static let head = HTTPMethod("HEAD")
    /// `PUT`: replace a resource.
    package static let put = HTTPMethod("PUT")
    /// `POST`: process the body.
    package static let post = HTTPMethod("POST")
    /// `DELETE`: remove a resource.
    package static let delete = HTTPMethod("DELETE")
    /// `OPTIONS`: ask which methods a resource allows.
    package static let options = HTTPMethod("OPTIONS")
    /// `PATCH`: modify part of a resource.
    package static let patch = HTTPMethod("PATCH")
}
