import Foundation
import Synchronization
import Testing

@testable import Gateway

/// A token file in a directory of its own, removed at the end.
final class TokenFileFixture {
    let directory = FileManager.default.temporaryDirectory.appending(
        path: "keygate-tokens-\(UUID().uuidString)")
    var path: String { directory.appending(path: "tokens.json").path() }

    init() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes `tokens` (name, token, scopes) as the file, and returns it.
    @discardableResult
    func write(_ tokens: [(String, String, [String])]) throws -> TokenFile {
        var file = TokenFile()
        for (name, token, scopes) in tokens {
            try file.add(Token(name: name, digest: TokenDigest(of: token), scopes: scopes.map(Scope.init)))
        }
        try file.write(to: path)
        return file
    }

    func writeText(_ text: String) throws {
        try Data(text.utf8).write(to: URL(filePath: path))
    }
}

@Suite("Token file")
struct TokenFileTests {
    @Test func writesWhatItReadsBackOwnerOnly() throws {
        let fixture = try TokenFileFixture()
        let written = try fixture.write([
            ("ci", "secret-1", ["read:*", "admin"]), ("worker", "secret-2", ["pop:jobs"]),
        ])
        let read = try TokenFile(contentsOf: fixture.path)
        #expect(read == written)
        #expect(read.tokens.map(\.name) == ["ci", "worker"])
        #expect(read.tokens[0].digest == TokenDigest(of: "secret-1"))
        let attributes = try FileManager.default.attributesOfItem(atPath: fixture.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(!(try String(contentsOfFile: fixture.path, encoding: .utf8)).contains("secret-1"))
    }

    @Test func digestIsTheSHA256OfTheToken() {
        // SHA-256("abc"), FIPS 180-2's first example.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        #expect(TokenDigest(of: "abc").description == expected)
        #expect(TokenDigest(hex: expected) == TokenDigest(of: "abc"))
        #expect(TokenDigest(hex: expected.uppercased()) == TokenDigest(of: "abc"))
        #expect(TokenDigest(hex: String(expected.dropLast())) == nil)
        #expect(TokenDigest(hex: String(expected.dropLast()) + "g") == nil)
    }

    @Test func refusesASecondTokenOfTheSameNameOrDigest() throws {
        var file = TokenFile()
        try file.add(Token(name: "a", digest: TokenDigest(of: "x"), scopes: [try Scope("read:*")]))
        #expect(throws: TokenFile.Invalid.self) {
            try file.add(Token(name: "a", digest: TokenDigest(of: "y"), scopes: []))
        }
        #expect(throws: TokenFile.Invalid.self) {
            try file.add(Token(name: "b", digest: TokenDigest(of: "x"), scopes: []))
        }
        #expect(file.tokens.count == 1)
    }

    static let digest = TokenDigest(of: "t").description

    @Test(arguments: [
        ("not JSON", "tokens: []", "not JSON"),
        ("an unknown top member", #"{"tokens":[],"users":[]}"#, "only member"),
        ("an entry not an object", #"{"tokens":[1]}"#, "token 1 is not an object"),
        (
            "an unknown member",
            #"{"tokens":[{"name":"a","sha256":"\#(digest)","scopes":["read:*"],"x":1}]}"#, "'x'"
        ),
        ("no name", #"{"tokens":[{"sha256":"\#(digest)","scopes":["read:*"]}]}"#, "\"name\""),
        ("a bad digest", #"{"tokens":[{"name":"a","sha256":"abc","scopes":["read:*"]}]}"#, "sha256"),
        ("no scope", #"{"tokens":[{"name":"a","sha256":"\#(digest)","scopes":[]}]}"#, "scopes"),
        ("a bad scope", #"{"tokens":[{"name":"a","sha256":"\#(digest)","scopes":["fly:*"]}]}"#, "'fly'"),
    ])
    func namesTheFileAndTheProblem(_ name: String, _ text: String, _ expected: String) throws {
        let fixture = try TokenFileFixture()
        try fixture.writeText(text)
        #expect {
            try TokenFile(contentsOf: fixture.path)
        } throws: { error in
            let description = (error as? TokenFile.Failure)?.description ?? ""
            return description.contains(fixture.path) && description.contains(expected)
        }
    }

    @Test func saysAMissingFileDoesNotExist() {
        #expect {
            try TokenFile(contentsOf: "/nonexistent/tokens.json")
        } throws: { error in
            (error as? TokenFile.Failure)?.reason == "it does not exist"
        }
    }
}

@Suite("Access control")
struct AccessControlTests {
    let fixture: TokenFileFixture

    init() throws {
        fixture = try TokenFileFixture()
        try fixture.write([("reader", "token-r", ["read:*"]), ("writer", "token-w", ["write:w:*"])])
    }

    func accessControl(ticketLifetime: Duration = .seconds(60)) throws -> AccessControl {
        try AccessControl(tokenFile: fixture.path, ticketLifetime: ticketLifetime, metrics: nil)
    }

    func unauthorized(_ body: () throws -> Caller) -> Bool {
        do {
            _ = try body()
            return false
        } catch let error as GatewayError {
            if case .unauthorized = error { return true }
            return false
        } catch {
            return false
        }
    }

    @Test func authenticatesABearerTokenInAnyCase() throws {
        let access = try accessControl()
        #expect(try access.authenticate(authorization: "Bearer token-r").name == "reader")
        #expect(try access.authenticate(authorization: "bearer token-w").name == "writer")
        #expect(try access.authenticate(authorization: "BEARER  token-w").name == "writer")
    }

    @Test(arguments: [nil, "", "Bearer", "Bearer ", "Basic dG9rZW4tcg==", "token-r", "Bearer token-x"])
    func refusesAnythingElse(_ authorization: String?) throws {
        let access = try accessControl()
        #expect(unauthorized { try access.authenticate(authorization: authorization) })
    }

    @Test func tellsAMissingTokenFromAWrongOne() throws {
        let access = try accessControl()
        #expect(
            throws: GatewayError.unauthorized(
                isTokenSent: false, detail: "This request needs 'Authorization: Bearer TOKEN'.")
        ) {
            try access.authenticate(authorization: nil)
        }
        #expect {
            try access.authenticate(authorization: "Bearer nope")
        } throws: { error in
            if case .unauthorized(isTokenSent: true, _) = error as? GatewayError { return true }
            return false
        }
    }

    @Test func ticketIsUsedOnce() throws {
        let access = try accessControl()
        let caller = try access.authenticate(authorization: "Bearer token-r")
        let ticket = access.issueTicket(for: caller)
        #expect(ticket.count == 43)
        #expect(try access.redeem(ticket: ticket) == caller)
        #expect(unauthorized { try access.redeem(ticket: ticket) })
        #expect(unauthorized { try access.redeem(ticket: "made-up") })
    }

    @Test func ticketsAreUnguessable() throws {
        let access = try accessControl()
        let caller = try access.authenticate(authorization: "Bearer token-r")
        let tickets = Set((0..<1000).map { _ in access.issueTicket(for: caller) })
        #expect(tickets.count == 1000)
        #expect(tickets.allSatisfy { $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } })
    }

    @Test func ticketExpires() throws {
        let access = try accessControl(ticketLifetime: .milliseconds(50))
        let caller = try access.authenticate(authorization: "Bearer token-r")
        let expiring = access.issueTicket(for: caller)
        Thread.sleep(forTimeInterval: 0.1)
        let fresh = access.issueTicket(for: caller)
        #expect(unauthorized { try access.redeem(ticket: expiring) })
        #expect(try access.redeem(ticket: fresh) == caller)
    }

    @Test func reloadTakesNewTokensAndRevokesOnlyTheChangedOnes() throws {
        let access = try accessControl()
        let reader = try access.authenticate(authorization: "Bearer token-r")
        let writer = try access.authenticate(authorization: "Bearer token-w")
        let ticket = access.issueTicket(for: writer)
        let revoked = Mutex<[String]>([])
        let readerWatch = access.watch(reader) { revoked.withLock { $0.append("reader") } }
        _ = access.watch(writer) { revoked.withLock { $0.append("writer") } }
        #expect(readerWatch != nil)
        #expect(access.watch(.anyone) {} == nil)

        // The writer's scopes change; the reader stays as it was; a new token comes.
        try fixture.write([
            ("reader", "token-r", ["read:*"]), ("writer", "token-w", ["write:*"]),
            ("new", "token-n", ["pop:*"]),
        ])
        #expect(try access.reload() == 1)
        #expect(revoked.withLock { $0 } == ["writer"])
        #expect(access.tokenCount == 3)
        #expect(try access.authenticate(authorization: "Bearer token-n").name == "new")
        // An accepted field is remembered, but not past a reload: the writer's new scopes hold.
        let rewritten = try access.authenticate(authorization: "Bearer token-w")
        #expect(rewritten.token?.scopes.map(\.description) == ["write:*"])
        #expect(unauthorized { try access.redeem(ticket: ticket) })

        // Once unwatched, a stream's revocation is not called.
        access.unwatch(try #require(readerWatch))
        try fixture.write([("new", "token-n", ["pop:*"])])
        #expect(try access.reload() == 0)
        #expect(revoked.withLock { $0 } == ["writer"])
        #expect(unauthorized { try access.authenticate(authorization: "Bearer token-r") })
    }

    @Test func malformedReloadKeepsTheTokens() throws {
        let access = try accessControl()
        try fixture.writeText("{")
        #expect(throws: TokenFile.Failure.self) { try access.reload() }
        #expect(try access.authenticate(authorization: "Bearer token-r").name == "reader")
    }
}
