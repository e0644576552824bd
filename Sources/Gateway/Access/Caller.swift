/// Who a request comes from, as far as access control knows: its token, or nobody in
/// particular when access control is off.
package struct Caller: Sendable, Equatable {
    /// The token it proved it holds; `nil` when access control is off.
    package let token: Token?

    /// A caller with every permission: access control is off.
    package static let anyone = Caller(token: nil)

    /// The holder of `token`.
    package init(token: Token?) {
        self.token = token
    }

    /// What it may do.
    package var permissions: Permissions {
        token?.permissions ?? .everything
    }

    /// The token's name, for the access log; `nil` when access control is off.
    package var name: String? {
        token?.name
    }
}
