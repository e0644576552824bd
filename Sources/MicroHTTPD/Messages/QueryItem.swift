/// One decoded `name=value` pair of a query string.
package struct QueryItem: Hashable, Sendable {
    /// The decoded name.
    package var name: String
    /// The decoded value; empty when the pair has no `=`.
    package var value: String

    /// Creates a pair.
    package init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
