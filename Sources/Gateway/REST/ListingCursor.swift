import FoundationEssentials
import Keyspace

/// The opaque cursor of a listing: the last key a page looked at, in URL-safe base64.
enum ListingCursor {
    /// The cursor for a key: base64url without padding (RFC 4648, section 5).
    static func encode(_ key: Key) -> String {
        Data(key.bytes).base64EncodedString()
            .replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    /// The key a cursor stands for; anything else is an invalid cursor.
    static func decode(_ cursor: String) throws(KeyspaceError) -> Key {
        var base64 = cursor.replacing("-", with: "+").replacing("_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard !cursor.contains("+"), !cursor.contains("/"),
            let bytes = Data(base64Encoded: base64)
        else { throw .invalidCursor }
        do {
            return try Key(Array(bytes))
        } catch {
            throw .invalidCursor
        }
    }
}
