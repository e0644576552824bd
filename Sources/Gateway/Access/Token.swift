/// One token of the token file: its name (for logs and metrics, never the token), its
/// digest, and what it may do.
///
/// A class, immutable: every request of a token carries it, so that a caller's copy costs
/// one reference count instead of one per field.
package final class Token: Sendable, Equatable {
    /// The name the operator gave it.
    package let name: String
    /// The SHA-256 of the token.
    package let digest: TokenDigest
    /// What it may do.
    package let scopes: [Scope]
    /// What it may do, as a request checks it.
    package let permissions: Permissions

    /// A token named `name`, known by `digest`, granted `scopes`.
    package init(name: String, digest: TokenDigest, scopes: [Scope]) {
        self.name = name
        self.digest = digest
        self.scopes = scopes
        permissions = Permissions(scopes: scopes)
    }

    /// The same name, digest and scopes: a reload that leaves all three keeps the token.
    package static func == (lhs: Token, rhs: Token) -> Bool {
        lhs === rhs || (lhs.name == rhs.name && lhs.digest == rhs.digest && lhs.scopes == rhs.scopes)
    }
}
