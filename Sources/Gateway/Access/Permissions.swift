package import Keyspace

/// What a request may do: everything, when access control is off, or what the scopes of its
/// token grant.
package struct Permissions: Sendable, Equatable {
    /// The scopes; `nil` grants everything.
    private let scopes: [Scope]?

    /// Everything: access control is off.
    package static let everything = Permissions(scopes: nil)

    /// What `scopes` grant.
    package init(scopes: [Scope]?) {
        self.scopes = scopes
    }

    /// Whether `action` is granted on `key`. O(scopes × pattern × key).
    package func allows(_ action: AccessAction, on key: Key) -> Bool {
        guard let scopes else { return true }
        return scopes.contains { $0.allows(action, on: key) }
    }

    /// Whether `action` is granted on some key at least (or at all, for `admin`).
    package func allowsSome(_ action: AccessAction) -> Bool {
        guard let scopes else { return true }
        return scopes.contains { $0.grants(action) }
    }

    /// The patterns of the keys `action` is granted on; `nil` when it is granted on every key.
    package func patterns(for action: AccessAction) -> [KeyPattern]? {
        guard let scopes else { return nil }
        return scopes.filter { $0.grants(action) }.compactMap(\.pattern)
    }
}
