/// Why the server refuses to start as configured; its description says what to change.
package struct StartupRefusal: Error, CustomStringConvertible {
    /// What is wrong and what to do.
    package let description: String

    /// A refusal saying `description`.
    init(_ description: String) {
        self.description = description
    }
}
