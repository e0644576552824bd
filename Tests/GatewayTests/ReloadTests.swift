import Gateway
import Glibc
import KeygateTestSupport
import MicroHTTPD
import Testing

/// `KeygateServer.reload()`, SIGHUP's one entry point: what it reloads and what it reports.
@Suite("Reload")
struct ReloadTests {
    @Test func aPlainServerHasNothingToReload() throws {
        try withGateway { gateway in
            let report = gateway.server.reload()
            #expect(report.certificate == nil)
            #expect(gateway.server.certificate == nil)
        }
    }

    @Test func reloadsTheTLSPairAndReportsARefusalKeepingTheCurrentOne() throws {
        let authority = try TestCertificateAuthority(name: "Keygate Gateway Test CA")
        let live = try authority.issue("keygate-first")
        let next = try authority.issue("keygate-next")
        let tls = TLSConfiguration(certificateFile: live.certificateFile, keyFile: live.keyFile)
        let configure: (inout KeygateServer.Configuration) -> Void = { $0.http.tls = tls }
        try withGateway(configure: configure) { gateway in
            let server = gateway.server
            #expect(server.certificate?.subject == "CN=keygate-first")
            try TestCertificateAuthority.run("/bin/cp", [next.certificateFile, live.certificateFile])
            try TestCertificateAuthority.run("/bin/cp", [next.keyFile, live.keyFile])
            let reloaded = try #require(server.reload().certificate).get()
            #expect(reloaded.subject == "CN=keygate-next")
            #expect(server.certificate == reloaded)

            try TestCertificateAuthority.run("/bin/rm", [live.keyFile])
            let refusal = try #require(server.reload().certificate)
            #expect(throws: TLSError(file: live.keyFile, reason: .unreadable(function: "open", code: ENOENT)))
            {
                try refusal.get()
            }
            #expect(server.certificate == reloaded)
        }
    }
}
