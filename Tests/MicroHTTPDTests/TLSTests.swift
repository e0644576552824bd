import KeygateTestSupport
import MicroHTTPD
import Testing

/// HTTPS through libmicrohttpd's GnuTLS: start-up refusals naming the file, a handshake with a
/// test CA, and reloads. The clients are curl, trusting only the test CA.
@Suite("TLS")
struct TLSTests {
    /// What curl printed for a GET of `path` over HTTPS, trusting `authority`; `nil` when it
    /// failed (the certificate not trusted, or no TLS).
    private func get(_ path: String, port: Int, trusting authority: TestCertificateAuthority) throws
        -> String?
    {
        let (status, output) = try TestCertificateAuthority.run(
            "/usr/bin/curl",
            [
                "-sS", "--noproxy", "*", "--max-time", "10", "--cacert", authority.certificateFile,
                "https://127.0.0.1:\(port)\(path)",
            ], allowingFailure: true)
        return status == 0 ? output : nil
    }

    private func configuration(_ pair: TestCertificateAuthority.Pair) -> (inout HTTPServer.Configuration) ->
        Void
    {
        { $0.tls = TLSConfiguration(certificateFile: pair.certificateFile, keyFile: pair.keyFile) }
    }

    /// The error starting a server with `tls` throws.
    private func startFailure(_ tls: TLSConfiguration) -> HTTPServerError? {
        do {
            let configure: (inout HTTPServer.Configuration) -> Void = { $0.tls = tls }
            try withServer(configure: configure) { _, _ in }
            return nil
        } catch let error as HTTPServerError {
            return error
        } catch {
            Issue.record("an unexpected error: \(error)")
            return nil
        }
    }

    @Test func servesHTTPSWithTheCertificateOfItsConfiguration() throws {
        let authority = try TestCertificateAuthority(name: "Keygate Swift Test CA")
        let pair = try authority.issue("keygate-swift")
        try withServer(configure: configuration(pair)) { server, _ in
            #expect(server.certificate?.subject == "CN=keygate-swift")
            let echoed = try get("/echo", port: server.port, trusting: authority)
            #expect(echoed == "GET /echo\n")
            // Plain HTTP on the same port gets no answer.
            #expect(throws: (any Error).self) {
                _ = try TestHTTPClient(port: server.port, timeout: .seconds(5)).request("GET", "/echo")
            }
        }
    }

    @Test(arguments: [
        (name: "missing certificate", isCertificateMissing: true),
        (name: "missing key", isCertificateMissing: false),
    ])
    func refusesAMissingFileNamingIt(_ case: (name: String, isCertificateMissing: Bool)) throws {
        let authority = try TestCertificateAuthority(name: "Keygate Swift Test CA")
        let pair = try authority.issue("keygate-swift")
        let missing = authority.directory + "/missing.pem"
        let tls =
            `case`.isCertificateMissing
            ? TLSConfiguration(certificateFile: missing, keyFile: pair.keyFile)
            : TLSConfiguration(certificateFile: pair.certificateFile, keyFile: missing)
        let error = try #require(startFailure(tls))
        #expect(
            error.description == "Cannot read the TLS file '\(missing)': No such file or directory (open)")
    }

    @Test func refusesAKeyThatDoesNotMatchNamingBothFiles() throws {
        let authority = try TestCertificateAuthority(name: "Keygate Swift Test CA")
        let pair = try authority.issue("keygate-swift")
        let other = try authority.issue("other")
        let error = try #require(
            startFailure(TLSConfiguration(certificateFile: pair.certificateFile, keyFile: other.keyFile)))
        #expect(
            error.description
                == "The TLS key file '\(other.keyFile)' does not match the certificate in '\(pair.certificateFile)'"
        )
    }

    @Test func refusesFilesThatAreNotPEM() throws {
        let authority = try TestCertificateAuthority(name: "Keygate Swift Test CA")
        let pair = try authority.issue("keygate-swift")
        let garbage = authority.directory + "/garbage.pem"
        try TestCertificateAuthority.run("/bin/sh", ["-c", "echo 'not PEM' > '\(garbage)'"])
        let certificateError = try #require(
            startFailure(TLSConfiguration(certificateFile: garbage, keyFile: pair.keyFile)))
        #expect(
            certificateError.description.hasPrefix("The TLS certificate file '\(garbage)' holds no usable"))
        let keyError = try #require(
            startFailure(TLSConfiguration(certificateFile: pair.certificateFile, keyFile: garbage)))
        #expect(keyError.description.hasPrefix("The TLS key file '\(garbage)' holds no usable"))
    }

    @Test func aReloadPresentsTheNewPairToNewConnectionsAndABadOneKeepsTheOld() throws {
        let first = try TestCertificateAuthority(name: "Keygate Swift Test CA")
        let second = try TestCertificateAuthority(name: "Keygate Swift Next CA")
        let live = try first.issue("keygate-first")
        let next = try second.issue("keygate-second")
        try withServer(configure: configuration(live)) { server, _ in
            let before = try get("/echo", port: server.port, trusting: first)
            #expect(before == "GET /echo\n")
            // The files at the configured paths change, as a deployment replaces them.
            try TestCertificateAuthority.run("/bin/cp", [next.certificateFile, live.certificateFile])
            try TestCertificateAuthority.run("/bin/cp", [next.keyFile, live.keyFile])
            let summary = try server.reloadCertificate()
            #expect(summary?.subject == "CN=keygate-second")
            #expect(server.certificate == summary)
            let trustingSecond = try get("/echo", port: server.port, trusting: second)
            #expect(trustingSecond == "GET /echo\n")
            let trustingFirst = try get("/echo", port: server.port, trusting: first)
            #expect(trustingFirst == nil)

            // A certificate whose key is not beside it: refused, and the current pair stays.
            let stray = try first.issue("keygate-stray")
            try TestCertificateAuthority.run("/bin/cp", [stray.certificateFile, live.certificateFile])
            #expect(
                throws: TLSError(file: live.keyFile, reason: .mismatch(certificateFile: live.certificateFile))
            ) {
                try server.reloadCertificate()
            }
            #expect(server.certificate == summary)
            let afterRefusal = try get("/echo", port: server.port, trusting: second)
            #expect(afterRefusal == "GET /echo\n")
        }
    }

    @Test func aPlainServerHasNoCertificateToReload() throws {
        try withServer { server, _ in
            #expect(server.certificate == nil)
            let reloaded = try server.reloadCertificate()
            #expect(reloaded == nil)
        }
    }
}
