/// A value read from the keyspace with the version it had.
package struct Versioned<Value: Sendable>: Sendable {
    /// The value.
    package var value: Value
    /// Its version.
    package var version: Version

    /// Pairs a value with its version.
    package init(_ value: Value, version: Version) {
        self.value = value
        self.version = version
    }
}
