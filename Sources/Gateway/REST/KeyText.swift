import Keyspace

/// Keys written into headers and JSON.
enum KeyText {
    /// The key percent-encoded as one path segment, as `/v1/queues/{name}` takes it, so that it
    /// is ASCII and fits a header: bytes other than unreserved characters and `:@!$'()*+,;=`
    /// become `%XX`. O(n).
    static func pathSegment(_ key: Key) -> String {
        var encoded = ""
        encoded.reserveCapacity(key.bytes.count)
        for byte in key.bytes {
            if isKeptAsIs(byte) {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                encoded +=
                    "%" + String(byte >> 4, radix: 16, uppercase: true)
                    + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return encoded
    }

    private static func isKeptAsIs(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "-._~:@!$'()*+,;=".utf8.contains(byte)
        }
    }
}
