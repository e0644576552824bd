/// The type of value a key holds.
package enum KeyType: String, Sendable, Equatable {
    /// Bytes with a content type: the cache.
    case string
}
