import MicroHTTPD
import Testing

@Suite("Percent-decoding")
struct PercentEncodingTests {
    @Test(
        arguments: [
            ("plain", "plain"), ("a%2Fb", "a/b"), ("%25", "%"), ("%20x", " x"), ("%C3%A9", "é"),
            ("a+b", "a+b"), ("%2b", "+"),
        ])
    func decodes(encoded: String, decoded: String) throws {
        #expect(try PercentEncoding.decodeText(Array(encoded.utf8)[...]) == decoded)
    }

    @Test func turnsPlusIntoSpaceInQueries() throws {
        #expect(try PercentEncoding.decodeText(Array("a+b%2B".utf8)[...], plusIsSpace: true) == "a b+")
    }

    @Test(arguments: ["%", "%2", "%zz", "abc%g1", "%%41"])
    func refusesMalformedEscapes(encoded: String) {
        #expect(throws: HTTPError.self) { try PercentEncoding.decode(Array(encoded.utf8)[...]) }
    }

    @Test func refusesNonUTF8Text() throws {
        #expect(throws: HTTPError.self) { try PercentEncoding.decodeText(Array("%FF%FE".utf8)[...]) }
        #expect(try PercentEncoding.decode(Array("%FF".utf8)[...]) == [0xFF])
    }
}
