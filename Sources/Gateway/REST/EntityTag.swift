import Keyspace
import MicroHTTPD

/// Entity tags (RFC 9110, section 8.8.3): a value's version as `"<hex>"`, and the parsing of
/// the `If-Match` and `If-None-Match` lists that name them.
enum EntityTag {
    /// The strong entity tag of a version: its number in hexadecimal, quoted.
    ///
    /// Written byte by byte: it is on every read and write, and up to 13 hex digits it fits a
    /// small string, with no allocation.
    static func of(_ version: Version) -> String {
        let digitCount = max(1, (64 - version.rawValue.leadingZeroBitCount + 3) / 4)
        return String(unsafeUninitializedCapacity: digitCount + 2) { buffer in
            var remaining = version.rawValue
            buffer[0] = UInt8(ascii: "\"")
            for position in stride(from: digitCount, through: 1, by: -1) {
                let digit = UInt8(remaining & 0xF)
                buffer[position] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                remaining >>= 4
            }
            buffer[digitCount + 1] = UInt8(ascii: "\"")
            return digitCount + 2
        }
    }

    /// The versions named by the values of one precondition header, or `nil` when absent.
    ///
    /// The field is `*` alone or a comma-separated list of at least one entity tag (RFC 9110,
    /// sections 5.6.1 and 8.8.3), empty list elements ignored. An opaque tag may hold a comma
    /// (`"a,b"`), so the list is read tag by tag, never split on commas. O(n) in the bytes.
    ///
    /// - Parameter weakMatches: whether `W/"…"` tags count (weak comparison, for
    ///   `If-None-Match`) or never match (strong comparison, for `If-Match`).
    static func versions(in headerValues: [String], weakMatches: Bool) throws(GatewayError)
        -> WriteCondition.Versions?
    {
        guard !headerValues.isEmpty else { return nil }
        if headerValues.count == 1, trimmed(Substring(headerValues[0])) == "*" {
            return .any
        }
        var versions: [Version] = []
        var tagCount = 0
        for value in headerValues {
            var tags = TagReader(Array(value.utf8))
            while let tag = try tags.next() {
                tagCount += 1
                // A tag the server never made simply matches nothing.
                if let version = version(ofOpaqueTag: tag.opaque), !tag.isWeak || weakMatches {
                    versions.append(version)
                }
            }
        }
        guard tagCount > 0 else {
            throw .badRequest("A precondition names no entity tag; send \"*\" or quoted ETags.")
        }
        return .list(versions)
    }

    /// The version whose tag is exactly these characters (lowercase hex, no leading zero, as
    /// `of(_:)` writes it), or `nil` for a tag the server never made.
    private static func version(ofOpaqueTag opaque: ArraySlice<UInt8>) -> Version? {
        guard (1...16).contains(opaque.count), opaque.count == 1 || opaque.first != UInt8(ascii: "0")
        else { return nil }
        var number: UInt64 = 0
        for byte in opaque {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                number = number << 4 | UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"):
                number = number << 4 | UInt64(byte - UInt8(ascii: "a") + 10)
            default: return nil
            }
        }
        return Version(number)
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}

/// Reads the entity tags of one field value, one at a time: `W/` for a weak tag, then the
/// opaque tag between double quotes (`etagc`: `!`, `#`…`~` and bytes over 0x7F), each
/// followed by optional spaces and a comma or the end.
private struct TagReader {
    /// One entity tag of the list.
    struct Tag {
        var isWeak: Bool
        var opaque: ArraySlice<UInt8>
    }

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The next tag, `nil` at the end; a `400` for anything that is not a list of tags.
    mutating func next() throws(GatewayError) -> Tag? {
        while index < bytes.count, bytes[index] == UInt8(ascii: ",") || Self.isSpace(bytes[index]) {
            index += 1
        }
        guard index < bytes.count else { return nil }
        let isWeak = bytes[index...].starts(with: [UInt8(ascii: "W"), UInt8(ascii: "/")])
        if isWeak { index += 2 }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\""),
            let close = bytes[(index + 1)...].firstIndex(of: UInt8(ascii: "\""))
        else { throw malformed }
        let opaque = bytes[(index + 1)..<close]
        guard opaque.allSatisfy(Self.isTagCharacter) else { throw malformed }
        index = close + 1
        while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
        guard index == bytes.count || bytes[index] == UInt8(ascii: ",") else { throw malformed }
        return Tag(isWeak: isWeak, opaque: opaque)
    }

    private var malformed: GatewayError {
        .badRequest(
            "'\(String(decoding: bytes, as: UTF8.self))' is not a list of entity tags; send \"*\" or quoted ETags."
        )
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// `etagc` of RFC 9110: `!`, `#` to `~`, and `obs-text`.
    private static func isTagCharacter(_ byte: UInt8) -> Bool {
        byte == 0x21 || (0x23...0x7E).contains(byte) || byte >= 0x80
    }
}
