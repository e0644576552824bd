/// A key: 1 to 1024 bytes of UTF-8 text without control characters (C0, DEL or C1).
///
/// Keys compare and hash by their bytes, never by Unicode equivalence: two spellings of "é"
/// are two keys, as in Redis. Text-only keys keep listings and events readable as JSON.
package struct Key: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The longest key, in bytes.
    package static let maxLength = 1024

    /// The key's bytes.
    package let bytes: [UInt8]

    /// Validates `bytes` as a key. O(n) in the length.
    package init(_ bytes: [UInt8]) throws(KeyspaceError) {
        guard !bytes.isEmpty else { throw .invalidKey("A key cannot be empty.") }
        guard bytes.count <= Key.maxLength else {
            throw .invalidKey(
                "A key is at most \(Key.maxLength) bytes; this one has \(bytes.count).")
        }
        var isASCII = true
        for byte in bytes {
            guard byte >= 0x20 && byte != 0x7F else {
                throw .invalidKey("A key cannot contain control characters.")
            }
            isASCII = isASCII && byte < 0x80
        }
        if !isASCII {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw .invalidKey("A key must be UTF-8 text.")
            }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw .invalidKey("A key cannot contain control characters.")
            }
        }
        self.bytes = bytes
    }

    /// A key from bytes the keyspace validated when it stored them.
    init(validated bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Validates the UTF-8 of `text` as a key.
    package init(_ text: String) throws(KeyspaceError) {
        try self.init(Array(text.utf8))
    }

    /// The key as text (always valid: keys are UTF-8).
    package var text: String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// The key as text.
    package var description: String { text }

    /// Whether the key starts with `prefix`, byte for byte.
    package func hasPrefix(_ prefix: [UInt8]) -> Bool {
        bytes.count >= prefix.count && bytes.starts(with: prefix)
    }

    /// Hashes the bytes in one call rather than byte by byte.
    package func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// Byte-wise lexicographic order, which is also code-point order for UTF-8.
    package static func < (lhs: Key, rhs: Key) -> Bool {
        ByteOrder.compare(lhs.bytes, rhs.bytes) < 0
    }
}
