/// One header field of a response: a name and a value, both already valid on the wire.
package struct HTTPHeader: Hashable, Sendable {
    /// The field name, for example `Content-Type`.
    package var name: String
    /// The field value.
    package var value: String

    /// Creates a header field.
    package init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
