package import Keyspace

/// One scope of a token, as the token file writes it: `ACTION:PATTERN`, an action (or `*` for
/// every action on keys) on the keys and queues matching a Redis glob; or `admin` alone, which
/// grants `/metrics`.
package struct Scope: Sendable, Equatable, CustomStringConvertible {
    /// Why a scope cannot be read.
    package struct Malformed: Error, Equatable, CustomStringConvertible {
        /// What is wrong with it.
        package let description: String
    }

    /// The actions it grants.
    package let actions: Set<AccessAction>
    /// The same, one bit per action (`AccessAction.bit`): checked on every request, where a
    /// set's hashing would cost more than the check.
    private let actionBits: UInt8
    /// The keys it grants them on; `nil` for `admin`, which concerns no key.
    package let pattern: KeyPattern?
    /// The scope as written.
    package let description: String

    /// Reads a scope such as `read:user:*`, `*:jobs`, or `admin`.
    package init(_ text: String) throws(Malformed) {
        description = text
        if text == AccessAction.admin.rawValue {
            actions = [.admin]
            actionBits = AccessAction.admin.bit
            pattern = nil
            return
        }
        let names = AccessAction.onKeys.map(\.rawValue).joined(separator: ", ")
        guard let colon = text.firstIndex(of: ":") else {
            throw Malformed(
                description:
                    "'\(text)' is not a scope: write ACTION:PATTERN (ACTION one of \(names) or *), or admin.")
        }
        let name = String(text[..<colon])
        let glob = String(text[text.index(after: colon)...])
        guard !glob.isEmpty else {
            throw Malformed(description: "'\(text)' names no key pattern after its ':'; '*' is every key.")
        }
        do {
            pattern = try KeyPattern(glob)
        } catch {
            throw Malformed(description: "'\(text)': \(Problem(error).detail)")
        }
        if name == "*" {
            actions = Set(AccessAction.onKeys)
        } else if let action = AccessAction(rawValue: name), action != .admin {
            actions = [action]
        } else {
            throw Malformed(
                description:
                    "'\(name)' in '\(text)' is not an action: use one of \(names), *, or admin alone.")
        }
        actionBits = actions.reduce(0) { $0 | $1.bit }
    }

    /// Whether the scope grants `action` on some key at least (or at all, for `admin`).
    func grants(_ action: AccessAction) -> Bool {
        actionBits & action.bit != 0
    }

    /// Whether the scope grants `action` on `key`. O(pattern × key).
    func allows(_ action: AccessAction, on key: Key) -> Bool {
        grants(action) && (pattern?.matches(key) ?? false)
    }
}
