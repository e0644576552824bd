import MicroHTTPD
import Testing

@testable import Gateway

@Suite("Protected mode")
struct ProtectedModeTests {
    @Test(arguments: ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
    func loopbackIsLoopback(_ host: String) {
        #expect(KeygateServer.Configuration.isLoopback(host))
    }

    @Test(arguments: ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::2", "example.com", "", "::ffff:127.0.0.1"])
    func othersAreNot(_ host: String) {
        #expect(!KeygateServer.Configuration.isLoopback(host))
    }

    func configuration(host: String, tokens: String?, anonymous: Bool) -> KeygateServer.Configuration {
        var configuration = KeygateServer.Configuration()
        configuration.http.host = host
        configuration.gateway.tokenFile = tokens
        configuration.gateway.isAnonymousAllowed = anonymous
        return configuration
    }

    @Test func refusesAnOpenGatewayOnAPublicAddress() throws {
        #expect(throws: StartupRefusal.self) {
            try configuration(host: "0.0.0.0", tokens: nil, anonymous: false).checkProtectedMode()
        }
        try configuration(host: "0.0.0.0", tokens: "tokens.json", anonymous: false).checkProtectedMode()
        try configuration(host: "0.0.0.0", tokens: nil, anonymous: true).checkProtectedMode()
        try configuration(host: "127.0.0.1", tokens: nil, anonymous: false).checkProtectedMode()
    }
}
