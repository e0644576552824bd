import Glibc
import Plumbing

/// A failure of the server itself to start: which C call failed and why.
package struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    /// The C function that failed.
    package let function: String
    /// The `errno` it left, or 0 when it sets none.
    package let code: Int32
    /// What the server was trying to do.
    package let detail: String

    /// Creates an error.
    package init(function: String, code: Int32, detail: String) {
        self.function = function
        self.code = code
        self.detail = detail
    }

    /// The failed system call `error`, while trying to do `detail`.
    init(_ error: SystemCallError, detail: String) {
        self.init(function: error.function, code: error.code, detail: detail)
    }

    /// The TLS certificate or key could not be used; the detail says why and names the file.
    init(_ error: TLSError) {
        self.init(function: "", code: 0, detail: error.description)
    }

    /// The detail, the function and the system's explanation of the code.
    package var description: String {
        if function.isEmpty { return detail }
        return code == 0
            ? "\(detail) (\(function) failed)"
            : "\(detail) (\(function): \(String(cString: strerror(code))))"
    }
}
