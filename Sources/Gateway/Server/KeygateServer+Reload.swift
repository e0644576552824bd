import Logging
package import MicroHTTPD

extension KeygateServer {
    /// What one `reload()` did, part by part; a part that is not configured is `nil`.
    package struct ReloadReport: Sendable {
        /// The TLS certificate and key: the new certificate, or why the old one stays.
        package var certificate: Result<TLSCertificate.Summary, TLSError>?
        /// The token file: how many streams and sockets of revoked tokens were ended, or why
        /// the tokens stay as they were.
        package var tokens: Result<Int, TokenFile.Failure>?
    }

    /// Re-reads what can change without a restart, logs the outcome of each part, and reports
    /// it: the one thing SIGHUP does.
    ///
    /// The parts:
    /// - the TLS certificate and key, when the server speaks HTTPS: new handshakes present the
    ///   new pair, connections already open carry on with theirs, and a pair that cannot be used
    ///   (a missing file, a key that does not match) leaves the current one in place;
    /// - the token file, with access control on: requests use the new tokens at once, and the
    ///   event streams and sockets of a token removed or changed end now; a file that cannot be
    ///   used leaves the tokens as they were.
    ///
    /// Any thread; the request paths are not held up.
    @discardableResult
    package func reload() -> ReloadReport {
        var report = ReloadReport()
        report.certificate = reloadCertificate()
        report.tokens = reloadTokens()
        if report.certificate == nil, report.tokens == nil {
            logger.notice("Nothing to reload (no TLS pair and no token file are configured)")
        }
        return report
    }

    /// Reads the token file again and logs the outcome; `nil` without access control.
    private func reloadTokens() -> Result<Int, TokenFile.Failure>? {
        guard let accessControl else { return nil }
        do {
            let revoked = try accessControl.reload()
            logger.notice(
                "Token file read again",
                metadata: [
                    "file": "\(accessControl.path)", "tokens": "\(accessControl.tokenCount)",
                    "revoked_streams": "\(revoked)",
                ])
            return .success(revoked)
        } catch {
            logger.error(
                "The token file was not read again; the tokens stay as they were",
                metadata: ["error": "\(error)"])
            return .failure(error)
        }
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
