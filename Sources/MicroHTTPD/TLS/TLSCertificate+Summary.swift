import Glibc

extension TLSCertificate {
    /// What tells one certificate from another in a log: its subject, serial number and expiry.
    package struct Summary: Sendable, Equatable, CustomStringConvertible {
        /// The subject's distinguished name, as RFC 4514 writes it (`CN=example.com,O=Example`).
        package let subject: String
        /// The serial number, in lowercase hexadecimal.
        package let serialNumber: String
        /// When it expires, in seconds since 1970 (UTC).
        package let expiry: Int64
        /// Certificates in the chain presented, the server's own included.
        package let chainLength: Int

        /// The expiry as ISO 8601 text in UTC: `2027-03-01T12:00:00Z`.
        package var expiryText: String {
            var time = time_t(expiry)
            var parts = tm()
            guard gmtime_r(&time, &parts) != nil else { return "\(expiry)" }
            var text = [CChar](repeating: 0, count: 32)
            let count = strftime(&text, text.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
            let bytes = text.prefix(count).map { UInt8(bitPattern: $0) }
            return count > 0 ? String(decoding: bytes, as: UTF8.self) : "\(expiry)"
        }

        /// `subject=… serial=… expires=…`.
        package var description: String {
            "subject=\(subject) serial=\(serialNumber) expires=\(expiryText)"
        }
    }
}
