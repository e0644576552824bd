/// What must hold for a write to happen: HTTP's `If-Match` and `If-None-Match` (RFC 9110,
/// section 13.1), checked against the current version under the keyspace's lock.
package struct WriteCondition: Sendable, Equatable {
    /// The versions a condition names.
    package enum Versions: Sendable, Equatable {
        /// `*`: any current value.
        case any
        /// A list of versions.
        case list([Version])

        /// Whether `version` is one of these.
        package func contains(_ version: Version) -> Bool {
            switch self {
            case .any: true
            case .list(let versions): versions.contains(version)
            }
        }
    }

    /// The write happens only if the current value is one of these (`If-Match`).
    package var ifMatch: Versions?
    /// The write happens only if the current value is none of these (`If-None-Match`).
    package var ifNoneMatch: Versions?

    /// Creates a condition; `nil` parts always hold.
    package init(ifMatch: Versions? = nil, ifNoneMatch: Versions? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
    }

    /// No condition.
    package static let always = WriteCondition()
    /// Only if the key holds a value (`If-Match: *`).
    package static let ifPresent = WriteCondition(ifMatch: .any)
    /// Only if the key holds no value (`If-None-Match: *`).
    package static let ifAbsent = WriteCondition(ifNoneMatch: .any)

    /// Whether the condition holds when the current value has `current` (nil: no value).
    package func isSatisfied(byCurrent current: Version?) -> Bool {
        if let ifMatch {
            guard let current, ifMatch.contains(current) else { return false }
        }
        if let ifNoneMatch, let current, ifNoneMatch.contains(current) {
            return false
        }
        return true
    }
}
