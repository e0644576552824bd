/// The type of value a key holds.
package enum KeyType: String, Sendable, Equatable {
    /// Bytes with a content type: the cache.
    case string
    /// Messages in arrival order: a queue.
    case queue
}
