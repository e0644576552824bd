import Keyspace

/// The longest key this server takes, at most the engine's `Key.maxLength`: every key a client
/// names, in a path, a queue list or a WebSocket request, is read through it.
package struct KeyLimit: Sendable {
    /// The most bytes a key may have.
    package let maxBytes: Int

    /// A limit of `maxBytes`, clamped to 1…`Key.maxLength`.
    package init(maxBytes: Int = Key.maxLength) {
        self.maxBytes = min(max(1, maxBytes), Key.maxLength)
    }

    /// `bytes` as a key, if valid and within the limit.
    func key(_ bytes: [UInt8]) throws(KeyspaceError) -> Key {
        guard bytes.count <= maxBytes else {
            throw .invalidKey(
                "A key is at most \(maxBytes) bytes on this server; this one has \(bytes.count).")
        }
        return try Key(bytes)
    }

    /// The UTF-8 of `text` as a key, if valid and within the limit.
    func key(_ text: String) throws(KeyspaceError) -> Key {
        try key(Array(text.utf8))
    }
}
