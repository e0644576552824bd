import Logging
package import MicroHTTPD

extension KeygateServer {
    /// What one `reload()` did, part by part; a part that is not configured is `nil`.
    package struct ReloadReport: Sendable {
        /// The TLS certificate and key: the new certificate, or why the old one stays.
        package var certificate: Result<TLSCertificate.Summary, TLSError>?
    }

    /// Re-reads what can change without a restart, logs the outcome of each part, and reports
    /// it: the one thing SIGHUP does.
    ///
    /// Today the part is the TLS certificate and key, when the server speaks HTTPS: new
    /// handshakes present the new pair, connections already open carry on with theirs, and a
    /// pair that cannot be used (a missing file, a key that does not match) leaves the current
    /// one in place. Any thread; the request paths are not held up.
    @discardableResult
    package func reload() -> ReloadReport {
        var report = ReloadReport()
        report.certificate = reloadCertificate()
        if report.certificate == nil {
            logger.notice("Nothing to reload (no TLS pair is configured)")
        }
        return report
    }

    /// Reloads the TLS pair and logs the outcome; `nil` for plain HTTP.
    private func reloadCertificate() -> Result<TLSCertificate.Summary, TLSError>? {
        do {
            guard let summary = try http.reloadCertificate() else { return nil }
            logger.notice(
                "TLS certificate reloaded; new connections present it",
                metadata: [
                    "subject": "\(summary.subject)", "serial": "\(summary.serialNumber)",
                    "expires": "\(summary.expiryText)", "chain": "\(summary.chainLength)",
                ])
            return .success(summary)
        } catch {
            logger.error(
                "TLS certificate not reloaded; the previous one stays in use",
                metadata: ["error": "\(error)"])
            return .failure(error)
        }
    }
}
