import CMicroHTTPD
import Glibc

/// Why a TLS certificate and key could not be used, naming the file at fault.
package struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    package enum Reason: Sendable, Equatable {
        /// The file could not be read: `errno` from the call named.
        case unreadable(function: String, code: Int32)
        /// The file holds no PEM certificate GnuTLS accepts: its error code.
        case invalidCertificate(code: Int32)
        /// The file holds no unencrypted PEM private key GnuTLS accepts: its error code.
        case invalidKey(code: Int32)
        /// The key is not the certificate's.
        case mismatch(certificateFile: String)
        /// GnuTLS failed for another reason (memory): the function and its error code.
        case failure(function: String, code: Int32)
        /// libmicrohttpd was built without TLS, or without the certificate callback.
        case unsupported
    }

    /// The file the error is about: the certificate's or the key's.
    package let file: String
    /// What was wrong with it.
    package let reason: Reason

    /// An error about `file`.
    package init(file: String, reason: Reason) {
        self.file = file
        self.reason = reason
    }

    /// A sentence naming the file and the reason, with the system's or GnuTLS's explanation.
    package var description: String {
        switch reason {
        case .unreadable(let function, let code):
            "Cannot read the TLS file '\(file)': \(String(cString: strerror(code))) (\(function))"
        case .invalidCertificate(let code):
            "The TLS certificate file '\(file)' holds no usable PEM certificate: \(Self.explain(code))"
        case .invalidKey(let code):
            "The TLS key file '\(file)' holds no usable unencrypted PEM private key: \(Self.explain(code))"
        case .mismatch(let certificateFile):
            "The TLS key file '\(file)' does not match the certificate in '\(certificateFile)'"
        case .failure(let function, let code):
            "Cannot load the TLS pair of '\(file)': \(Self.explain(code)) (\(function))"
        case .unsupported:
            "This libmicrohttpd was built without TLS or its certificate callback: cannot serve '\(file)'"
        }
    }

    /// GnuTLS's sentence for an error code.
    private static func explain(_ code: Int32) -> String {
        gnutls_strerror(code).map { String(cString: $0) } ?? "GnuTLS error \(code)"
    }
}
