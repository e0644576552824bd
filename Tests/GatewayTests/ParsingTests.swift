import Keyspace
import MicroHTTPD
import Testing

@testable import Gateway

@Suite("Parsing of request values")
struct ParsingTests {
    @Test(arguments: [
        ("30", 30_000), ("0.25", 250), (".5", 500), ("1.0001", 1001), ("00012", 12_000), ("0.001", 1),
    ])
    func parsesDecimalSeconds(text: String, milliseconds: Int64) throws {
        #expect(try SecondsParser.parse(text) == .milliseconds(milliseconds))
    }

    @Test(arguments: ["", ".", "1e3", "-1", "+1", "1.2.3", " 1", "inf", "NaN", "123456789012"])
    func refusesAnythingElse(text: String) {
        #expect(throws: GatewayError.self) { try SecondsParser.parse(text) }
    }

    @Test func convertsJSONNumbersWithoutBinaryRoundingUp() throws {
        #expect(try SecondsParser.duration(seconds: 0.1) == .milliseconds(100))
        #expect(try SecondsParser.duration(seconds: 0.3) == .milliseconds(300))
        #expect(try SecondsParser.duration(seconds: 1e-7) == .milliseconds(1))
        #expect(try SecondsParser.duration(seconds: 0) == .zero)
        #expect(throws: GatewayError.self) { try SecondsParser.duration(seconds: .infinity) }
    }

    @Test func formatsEntityTagsAsQuotedHex() {
        #expect(EntityTag.of(Version(0)) == "\"0\"")
        #expect(EntityTag.of(Version(255)) == "\"ff\"")
        #expect(EntityTag.of(Version(.max)) == "\"ffffffffffffffff\"")
    }

    @Test func parsesEntityTagLists() throws {
        #expect(try EntityTag.versions(in: [], weakMatches: false) == nil)
        #expect(try EntityTag.versions(in: ["*"], weakMatches: false) == .any)
        #expect(
            try EntityTag.versions(in: ["\"a\", \"b\"", "\"c\""], weakMatches: false)
                == .list([Version(10), Version(11), Version(12)]))
        #expect(try EntityTag.versions(in: ["W/\"a\""], weakMatches: false) == .list([]))
        #expect(try EntityTag.versions(in: ["W/\"a\""], weakMatches: true) == .list([Version(10)]))
        #expect(try EntityTag.versions(in: ["\"not-ours\""], weakMatches: false) == .list([]))
        #expect(throws: GatewayError.self) { try EntityTag.versions(in: ["a"], weakMatches: false) }
    }

    /// An opaque tag may hold a comma (RFC 9110, section 8.8.3): the list is read tag by tag.
    /// Found by schemathesis: `W/"hh,"` was split into `W/"hh` and `"`, a 400.
    @Test func readsCommasInsideEntityTags() throws {
        #expect(
            try EntityTag.versions(in: ["W/\"gj\", W/\"hh,\", \"EP$\""], weakMatches: true) == .list([]))
        #expect(try EntityTag.versions(in: ["\"a,b\", \"c\""], weakMatches: false) == .list([Version(12)]))
        #expect(
            try EntityTag.versions(in: [", \"a\" ,,\t\"b\","], weakMatches: false)
                == .list([Version(10), Version(11)]))
    }

    /// Only the exact spelling the server writes names a version: strong comparison is
    /// character for character.
    @Test func matchesOnlyTheTagsTheServerWrites() throws {
        #expect(
            try EntityTag.versions(in: ["\"0a\"", "\"A\"", "\"+a\"", "\"\""], weakMatches: false) == .list([])
        )
        #expect(try EntityTag.versions(in: ["\"0\""], weakMatches: false) == .list([Version(0)]))
    }

    @Test(
        arguments: [
            "", " ", ",", " , ,", "*, \"a\"", "\"a\" *", "\"a", "a\"", "\"a\"\"b\"", "\"a b\"", "w/\"a\"",
            "W/ \"a\"", "\"a\";", "\"\u{1}\"",
        ])
    func refusesMalformedEntityTagLists(value: String) {
        #expect(throws: GatewayError.self) { try EntityTag.versions(in: [value], weakMatches: false) }
    }

    @Test(arguments: ["text/plain", "application/json; charset=utf-8", "image/svg+xml", "a/b;x=\"y z\""])
    func acceptsMediaTypes(value: String) throws {
        #expect(try MediaType.validate(value) == value)
    }

    @Test(
        arguments: [
            "", "text", "text/", "/plain", "text /plain", "te(xt/plain", "text/plain\u{1}", "tëxt/plain",
            String(repeating: "a", count: 251) + "/plain",
        ])
    func refusesMalformedMediaTypes(value: String) {
        #expect(throws: GatewayError.self) { try MediaType.validate(value) }
    }
}
