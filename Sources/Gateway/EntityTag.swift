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
    /// - Parameter weakMatches: whether `W/"…"` tags count (weak comparison, for
    ///   `If-None-Match`) or never match (strong comparison, for `If-Match`).
    static func versions(in headerValues: [String], weakMatches: Bool) throws(HTTPError)
        -> WriteCondition.Versions?
    {
        guard !headerValues.isEmpty else { return nil }
        var versions: [Version] = []
        for member in headerValues.flatMap({ $0.split(separator: ",") }) {
            let tag = trimmed(member)
            if tag == "*" {
                return .any
            }
            let isWeak = tag.hasPrefix("W/")
            let quoted = isWeak ? tag.dropFirst(2) : tag
            guard quoted.count >= 2, quoted.first == "\"", quoted.last == "\"",
                !quoted.dropFirst().dropLast().contains("\"")
            else {
                throw .badRequest("'\(tag)' is not an entity tag; send \"*\" or a quoted ETag.")
            }
            // A tag the server never made simply matches nothing.
            if let number = UInt64(quoted.dropFirst().dropLast(), radix: 16),
                !isWeak || weakMatches
            {
                versions.append(Version(number))
            }
        }
        return .list(versions)
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
