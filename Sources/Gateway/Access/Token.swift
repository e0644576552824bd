/// One token of the token file: its name (for logs and metrics, never the token), its
/// digest, and what it may do.
package struct Token: Sendable, Equatable {
    /// The name the operator gave it.
    package let name: String
    /// The SHA-256 of the token.
    package let digest: TokenDigest
    /// What it may do.
    package let scopes: [Scope]

    /// A token named `name`, known by `digest`, granted `scopes`.
    package init(name: String, digest: TokenDigest, scopes: [Scope]) {
        self.name = name
        self.digest = digest
        self.scopes = scopes
    }

    /// What it may do, as a request checks it.
    package var permissions: Permissions {
        Permissions(scopes: scopes)
    }
}
