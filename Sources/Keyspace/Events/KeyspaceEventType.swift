/// What happened to a key.
package enum KeyspaceEventType: String, CaseIterable, Sendable, Hashable {
    /// A value was written to the cache, with or without a time to live.
    case set
    /// A key was deleted, or a queue was emptied by a pop.
    case del
    /// A key's time to live was set or changed through the ttl operation.
    case expire
    /// A key's time to live was removed.
    case persist
    /// A key reached its deadline and was removed.
    case expired
    /// A key was evicted to make room under the memory limit (`--max-memory`).
    case evicted
    /// A message was appended to a queue (or put back at its head).
    case push
    /// A message was taken from a queue.
    case pop
}
