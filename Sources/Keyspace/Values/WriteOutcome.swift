/// What a successful write did.
package enum WriteOutcome: Sendable, Equatable {
    /// The key held no value; it does now, with this version.
    case created(Version)
    /// The key's value was replaced; the new one has this version.
    case replaced(Version)

    /// The version of the value written.
    package var version: Version {
        switch self {
        case .created(let version), .replaced(let version): version
        }
    }
}
