import FoundationEssentials

/// The process environment, as a value that tests and configuration code can pass around.
struct Environment: Sendable {
    /// The variables by name.
    let variables: [String: String]

    /// The environment of this process.
    static var current: Environment {
        Environment(variables: ProcessInfo.processInfo.environment)
    }

    /// The value of a variable, or `nil` when unset.
    subscript(name: String) -> String? {
        variables[name]
    }
}
