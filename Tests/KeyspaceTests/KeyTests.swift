import Keyspace
import Testing

@Suite("Keys")
struct KeyTests {
    @Test(arguments: ["a", "user:42", "a/b", "with space", "é", "日本", String(repeating: "k", count: 1024)])
    func acceptsText(text: String) throws {
        #expect(try Key(text).text == text)
    }

    @Test(
        arguments: [
            ("empty", [UInt8]()),
            ("too long", [UInt8](repeating: 0x61, count: 1025)),
            ("NUL", [0x61, 0x00]),
            ("newline", [0x61, 0x0A]),
            ("DEL", [0x7F]),
            ("C1 control", [0xC2, 0x85]),
            ("invalid UTF-8", [0xC3]),
            ("overlong UTF-8", [0xC0, 0xAF]),
        ])
    func refuses(reason: String, bytes: [UInt8]) {
        #expect(throws: KeyspaceError.self, "\(reason)") { try Key(bytes) }
    }

    @Test func comparesBytesNotUnicodeEquivalence() throws {
        let composed = try Key("\u{E9}")
        let decomposed = try Key("e\u{301}")
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed]).count == 2)
    }

    @Test func sortsByBytes() throws {
        let keys = try ["b", "a", "ab", "B", "é", "aa"].map(Key.init)
        #expect(keys.sorted().map(\.text) == ["B", "a", "aa", "ab", "b", "é"])
    }
}
