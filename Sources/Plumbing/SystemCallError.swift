import Glibc

/// A system call that failed: its name and the `errno` it left.
package struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The C function that failed.
    package let function: String
    /// The `errno` it left.
    package let code: Int32

    /// The failure of `function`, with the current `errno` unless `code` is given.
    package init(_ function: String, code: Int32 = errno) {
        self.function = function
        self.code = code
    }

    /// The function and the system's explanation of the code.
    package var description: String {
        "\(function): \(String(cString: strerror(code)))"
    }
}
