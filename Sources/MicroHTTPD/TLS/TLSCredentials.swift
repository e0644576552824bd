import Plumbing

/// The certificate a server presents to new TLS handshakes, replaced whole by a reload.
///
/// Connections opened after a reload present the new certificate; those already open keep
/// theirs. A reload that fails keeps the current one.
final class TLSCredentials: Sendable {
    /// Where the certificate and key are read from.
    let configuration: TLSConfiguration
    private let current: Mutex<TLSCertificate>

    /// Reads the pair named by `configuration`.
    init(configuration: TLSConfiguration) throws(TLSError) {
        self.configuration = configuration
        current = Mutex(try TLSCertificate(configuration: configuration))
    }

    /// The certificate new connections present; once per connection, under a short lock.
    var certificate: TLSCertificate {
        current.withLock { $0 }
    }

    /// Reads the files again and, if they hold a good pair, presents it from now on; otherwise
    /// keeps the current one and throws why. The files are read outside the lock.
    func reload() throws(TLSError) -> TLSCertificate.Summary {
        let loaded = try TLSCertificate(configuration: configuration)
        current.withLock { $0 = loaded }
        return loaded.summary
    }
}
