/// Where a server's TLS certificate and private key are: PEM files, read when the server starts
/// and again on each reload.
package struct TLSConfiguration: Sendable, Equatable {
    /// The certificate, followed by the intermediate certificates of its chain if any (a
    /// "full chain" file); in any order, the server's own first once sorted.
    package var certificateFile: String
    /// The certificate's private key, unencrypted (PKCS #1, PKCS #8 or SEC 1).
    package var keyFile: String

    /// The pair in `certificateFile` and `keyFile`.
    package init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// GnuTLS priorities: its normal ciphers and groups, over TLS 1.3 and 1.2 only.
    static let priorities = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
}
