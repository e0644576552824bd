import Testing

@testable import Gateway

@Suite("JSON reader")
struct JSONReaderTests {
    /// A JSON text and what it reads as.
    struct Reading: CustomTestStringConvertible, Sendable {
        let name: String
        let text: String
        let value: JSONValue
        var testDescription: String { name }

        init(_ name: String, _ text: String, _ value: JSONValue) {
            self.name = name
            self.text = text
            self.value = value
        }
    }

    static let documents: [Reading] = [
        Reading("null", "null", .null),
        Reading("true", "true", .bool(true)),
        Reading("false", "false", .bool(false)),
        Reading("zero", "0", .integer(0)),
        Reading("an integer", "42", .integer(42)),
        Reading("a negative integer", "-17", .integer(-17)),
        Reading("a fraction", "3.25", .number(3.25)),
        Reading("an empty string", #""""#, .string("")),
        Reading("a string", #""key""#, .string("key")),
        Reading("an empty array", "[]", .array([])),
        Reading("an empty object", "{}", .object([:])),
        Reading(
            "an array of every kind", #"[1,"a",null,true,false,[],{},2.5]"#,
            .array([
                .integer(1), .string("a"), .null, .bool(true), .bool(false), .array([]), .object([:]),
                .number(2.5),
            ])
        ),
        Reading(
            "a request", #"{"id":1,"op":"get","key":"k"}"#,
            .object(["id": .integer(1), "op": .string("get"), "key": .string("k")])
        ),
        Reading(
            "nested containers", #"{"a":{"b":[{"c":[]}]},"d":[[1],[2,{}]]}"#,
            .object([
                "a": .object(["b": .array([.object(["c": .array([])])])]),
                "d": .array([.array([.integer(1)]), .array([.integer(2), .object([:])])]),
            ])
        ),
        Reading(
            "whitespace of the four kinds around every token",
            " \t\n\r{ \"a\" :\n[ 1 ,\t2 ] , \"b\" : \"c\" }\r\n ",
            .object(["a": .array([.integer(1), .integer(2)]), "b": .string("c")])
        ),
        Reading(
            "a byte order mark, which the RFC lets a reader ignore", "\u{FEFF}[1]", .array([.integer(1)])),
        Reading(
            "the first of members named twice", #"{"a":1,"b":2,"a":3}"#,
            .object(["a": .integer(1), "b": .integer(2)])),
        Reading("a name that is empty", #"{"":0}"#, .object(["": .integer(0)])),
    ]

    @Test(arguments: documents)
    func readsValidDocuments(_ reading: Reading) {
        #expect(JSONValue.parse(reading.text) == reading.value)
    }

    static let numbers: [Reading] = [
        Reading("minus zero, a whole number", "-0", .integer(0)),
        Reading("the largest Int64", "9223372036854775807", .integer(.max)),
        Reading("the smallest Int64", "-9223372036854775808", .integer(.min)),
        Reading(
            "an integer a Double cannot hold exactly", "9007199254740993", .integer(9_007_199_254_740_993)),
        Reading("one past Int64", "9223372036854775808", .number(0x1p63)),
        Reading("one below Int64", "-9223372036854775809", .number(-0x1p63)),
        Reading("30 digits", "123456789012345678901234567890", .number(1.2345678901234568e29)),
        Reading("a whole number with a zero fraction", "1.0", .integer(1)),
        Reading("a whole number with an exponent", "1e2", .integer(100)),
        Reading("a whole number with both", "1.5e3", .integer(1500)),
        Reading("a whole number scaled down", "1000e-3", .integer(1)),
        Reading("a negative whole number", "-2.50e1", .integer(-25)),
        Reading("zero with a fraction", "-0.0", .integer(0)),
        Reading("zero with a huge exponent", "0e999999999999999999999", .integer(0)),
        Reading(
            "a large whole number with a fraction", "9007199254740993.0", .integer(9_007_199_254_740_993)),
        Reading("the largest Int64 with a fraction", "9223372036854775807.000", .integer(.max)),
        Reading(
            "one past Int64 with a fraction", "9223372036854775808.0", .number(0x1p63)),
        Reading(
            "many trailing zeros scaled down", "100000000000000000000000e-5",
            .integer(1_000_000_000_000_000_000)),
        Reading("10^18", "1E18", .integer(1_000_000_000_000_000_000)),
        Reading("10^19, past Int64", "1e+19", .number(1e19)),
        Reading("a tenth", "0.1", .number(0.1)),
        Reading("almost one", "0.99999999999999999999", .number(1.0)),
        Reading("one and a tiny fraction", "1.00000000000000000001", .number(1.0)),
        Reading("a negative fraction with an exponent", "-2.5e-3", .number(-0.0025)),
        Reading("the largest Double", "1.7976931348623157e308", .number(.greatestFiniteMagnitude)),
        Reading("the smallest Double", "5e-324", .number(.leastNonzeroMagnitude)),
        Reading("below the smallest Double", "1e-400", .number(0)),
    ]

    @Test(arguments: numbers)
    func readsNumbers(_ reading: Reading) {
        #expect(JSONValue.parse(reading.text) == reading.value)
    }

    static let strings: [Reading] = [
        Reading("every short escape", #""\"\\\/\b\f\n\r\t""#, .string("\"\\/\u{8}\u{C}\n\r\t")),
        Reading("hex escapes in either case", #""\u00e9\u00E9\u0041""#, .string("ééA")),
        Reading("an escaped NUL", #""a\u0000b""#, .string("a\u{0}b")),
        Reading("an escaped surrogate pair", #""\ud83d\ude00""#, .string("😀")),
        Reading("the last scalar as a surrogate pair", #""\uDBFF\uDFFF""#, .string("\u{10FFFF}")),
        Reading("escapes between plain runs", #""key \"a\" \u4e2d end""#, .string("key \"a\" 中 end")),
        Reading("raw UTF-8 of every length", #""aé中😀""#, .string("aé中😀")),
        Reading("DEL, which needs no escape", "\"\u{7F}\"", .string("\u{7F}")),
        Reading("an escaped member name", #"{"\u0061":1}"#, .object(["a": .integer(1)])),
    ]

    @Test(arguments: strings)
    func readsStrings(_ reading: Reading) {
        #expect(JSONValue.parse(reading.text) == reading.value)
    }

    /// A text that is not JSON, named by why.
    struct Invalid: CustomTestStringConvertible, Sendable {
        let name: String
        let text: String
        var testDescription: String { name }

        init(_ name: String, _ text: String) {
            self.name = name
            self.text = text
        }
    }

    static let invalidDocuments: [Invalid] = [
        Invalid("nothing", ""),
        Invalid("only whitespace", " \n"),
        Invalid("two values", "1 2"),
        Invalid("garbage after an object", "{}x"),
        Invalid("a bracket too many", "[1]]"),
        Invalid("garbage after a literal", "nullx"),
        Invalid("two strings", #""a""b""#),
        Invalid("a leading zero", "01"),
        Invalid("a negative leading zero", "-01"),
        Invalid("two zeros", "00"),
        Invalid("a leading zero in an array", "[01]"),
        Invalid("a plus sign", "+1"),
        Invalid("no integer part", ".5"),
        Invalid("no fraction digits", "1."),
        Invalid("no fraction digits before an exponent", "1.e5"),
        Invalid("no exponent digits", "1e"),
        Invalid("a signed exponent without digits", "1e+"),
        Invalid("a lone minus", "-"),
        Invalid("two minus signs", "--1"),
        Invalid("hex", "0x10"),
        Invalid("NaN", "NaN"),
        Invalid("infinity", "Infinity"),
        Invalid("negative infinity", "-Infinity"),
        Invalid("digit separators", "1_000"),
        Invalid("a number past Double", "1e400"),
        Invalid("a negative number past Double", "-1e400"),
        Invalid("just past the largest Double", "1.8e308"),
        Invalid("a truncated literal", "tru"),
        Invalid("a capitalised literal", "True"),
        Invalid("a longer word", "falsey"),
        Invalid("an unknown escape", #""\x""#),
        Invalid("a single-quote escape", #""\'""#),
        Invalid("a capital U escape", #""\U0041""#),
        Invalid("a short hex escape", #""\u12""#),
        Invalid("a non-hex digit", #""\u12g4""#),
        Invalid("a lone high surrogate", #""\ud800""#),
        Invalid("a lone low surrogate", #""\udc00""#),
        Invalid("a high surrogate before a letter", #""\ud800\u0041""#),
        Invalid("a high surrogate before a raw character", #""\ud800x""#),
        Invalid("two high surrogates", #""\ud800\ud800""#),
        Invalid("a reversed pair", #""\udc00\ud800""#),
        Invalid("a high surrogate before a short escape", #""\ud800\n""#),
        Invalid("a raw tab in a string", "\"a\tb\""),
        Invalid("a raw newline in a string", "\"\n\""),
        Invalid("a raw NUL in a string", "\"\u{0}\""),
        Invalid("a raw unit separator in a string", "\"\u{1F}\""),
        Invalid("an unterminated string", #""abc"#),
        Invalid("a string ending in a backslash", #""abc\"#),
        Invalid("an escape cut short", #""\u00"#),
        Invalid("a trailing comma in an array", "[1,]"),
        Invalid("a leading comma in an array", "[,1]"),
        Invalid("a trailing comma in an object", #"{"a":1,}"#),
        Invalid("no colon", #"{"a" 1}"#),
        Invalid("a number as a name", "{1:2}"),
        Invalid("no value", #"{"a":}"#),
        Invalid("a bare name", "{a:1}"),
        Invalid("no comma in an array", "[1 2]"),
        Invalid("no comma in an object", #"{"a":1 "b":2}"#),
        Invalid("an unclosed array", "[1"),
        Invalid("an unclosed object", #"{"a":1"#),
        Invalid("an unclosed name", #"{"a"#),
        Invalid("a lone closing bracket", "]"),
        Invalid("a lone closing brace", "}"),
        Invalid("a single-quoted string", "'a'"),
        Invalid("a comment", "[1] // one"),
        Invalid("a vertical tab as whitespace", "\u{0B}1"),
        Invalid("a form feed as whitespace", "\u{0C}1"),
        Invalid("a no-break space as whitespace", "\u{A0}1"),
        Invalid("a byte order mark after whitespace", " \u{FEFF}1"),
    ]

    @Test(arguments: invalidDocuments)
    func refusesInvalidDocuments(_ invalid: Invalid) {
        #expect(JSONValue.parse(invalid.text) == nil)
    }

    /// Bytes and what they read as, `nil` when they are not JSON.
    struct EncodedString: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        let value: String?
        var testDescription: String { name }

        init(_ name: String, _ bytes: [UInt8], _ value: String?) {
            self.name = name
            self.bytes = bytes
            self.value = value
        }
    }

    static let encodings: [EncodedString] = [
        EncodedString("U+0080, the first of two bytes", [0xC2, 0x80], "\u{80}"),
        EncodedString("U+07FF, the last of two bytes", [0xDF, 0xBF], "\u{7FF}"),
        EncodedString("U+0800, the first of three bytes", [0xE0, 0xA0, 0x80], "\u{800}"),
        EncodedString("U+D7FF, just below the surrogates", [0xED, 0x9F, 0xBF], "\u{D7FF}"),
        EncodedString("U+E000, just above the surrogates", [0xEE, 0x80, 0x80], "\u{E000}"),
        EncodedString("U+FFFF, the last of three bytes", [0xEF, 0xBF, 0xBF], "\u{FFFF}"),
        EncodedString("U+10000, the first of four bytes", [0xF0, 0x90, 0x80, 0x80], "\u{10000}"),
        EncodedString("U+10FFFF, the last scalar", [0xF4, 0x8F, 0xBF, 0xBF], "\u{10FFFF}"),
        EncodedString("a lone continuation byte", [0x80], nil),
        EncodedString("0xFF", [0xFF], nil),
        EncodedString("an overlong slash", [0xC0, 0xAF], nil),
        EncodedString("an overlong two-byte lead", [0xC1, 0xBF], nil),
        EncodedString("an overlong three-byte form", [0xE0, 0x80, 0xAF], nil),
        EncodedString("an overlong four-byte form", [0xF0, 0x80, 0x80, 0xAF], nil),
        EncodedString("an encoded high surrogate", [0xED, 0xA0, 0x80], nil),
        EncodedString("an encoded low surrogate", [0xED, 0xBF, 0xBF], nil),
        EncodedString("past U+10FFFF", [0xF4, 0x90, 0x80, 0x80], nil),
        EncodedString("a five-byte lead", [0xF8, 0x88, 0x80, 0x80, 0x80], nil),
        EncodedString("a lead 0xF5", [0xF5, 0x80, 0x80, 0x80], nil),
        EncodedString("a character cut short", [0xE2, 0x82], nil),
        EncodedString("a lead before ASCII", [0xC3, 0x41], nil),
        EncodedString("a four-byte character missing its last byte", [0xF0, 0x9F, 0x98], nil),
    ]

    @Test(arguments: encodings)
    func checksUTF8InStrings(_ encoding: EncodedString) {
        let quoted = [UInt8(ascii: "\"")] + encoding.bytes + [UInt8(ascii: "\"")]
        #expect(JSONValue.parse(quoted) == encoding.value.map(JSONValue.string))
    }

    @Test func refusesInvalidUTF8OutsideStrings() {
        #expect(JSONValue.parse([0xFF]) == nil)
        #expect(JSONValue.parse([UInt8(ascii: "["), 0xC3, 0xA9, UInt8(ascii: "]")]) == nil)
        #expect(JSONValue.parse([0xEF, 0xBB]) == nil)
    }

    @Test func readsNestingUpToTheLimit() {
        let depth = JSONReader.maxDepth
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(JSONValue.parse(arrays) != nil)
        let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(JSONValue.parse(objects) != nil)
        let mixed =
            String(repeating: #"[{"a":"#, count: depth / 2) + "1" + String(repeating: "}]", count: depth / 2)
        #expect(JSONValue.parse(mixed) != nil)
    }

    @Test func refusesNestingPastTheLimit() {
        let depth = JSONReader.maxDepth + 1
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(JSONValue.parse(arrays) == nil)
        let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(JSONValue.parse(objects) == nil)
    }

    @Test func refusesHostileNestingWithoutExhaustingTheStack() {
        #expect(JSONValue.parse(String(repeating: "[", count: 1_000_000)) == nil)
        #expect(JSONValue.parse(String(repeating: #"{"a":"#, count: 100_000)) == nil)
    }

    @Test func readsLongArraysAndStrings() {
        let count = 10_000
        let array = "[" + (0..<count).map(String.init).joined(separator: ",") + "]"
        #expect(JSONValue.parse(array) == .array((0..<count).map { .integer(Int64($0)) }))
        let long = String(repeating: "é\\n", count: count)
        #expect(JSONValue.parse("\"" + long + "\"") == .string(String(repeating: "é\n", count: count)))
    }

    @Test func readsBackWhatItWrites() {
        let value = JSONValue.object([
            "id": .integer(.min),
            "text": .string("quote \" backslash \\ controls \u{0}\u{1F}\n\t é 😀"),
            "list": .array([.null, .bool(true), .number(-0.5), .number(1e-7), .integer(.max), .object([:])]),
        ])
        #expect(JSONValue.parse(value.text) == value)
    }
}
