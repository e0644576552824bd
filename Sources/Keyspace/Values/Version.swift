/// The version of a value: unique across the keyspace's life, new on every write of a value.
///
/// The gateway shows it as a strong entity tag, for conditional requests.
package struct Version: Hashable, Sendable, CustomStringConvertible {
    /// The version number.
    package let rawValue: UInt64

    /// Creates a version from its number.
    package init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// The number, in hexadecimal.
    package var description: String { String(rawValue, radix: 16) }
}
