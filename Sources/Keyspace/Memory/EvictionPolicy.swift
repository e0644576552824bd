/// Which keys leave the keyspace when a write needs room under `--max-memory`.
///
/// Queues are never evicted, whatever the policy: their messages are work, not cache.
package enum EvictionPolicy: String, CaseIterable, Sendable {
    /// Writes that need room are refused (507); nothing is evicted.
    case noEviction = "noeviction"
    /// The least recently used key, approximated by sampling as Redis does.
    case allKeysLRU = "allkeys-lru"
    /// The least recently used key among those with a TTL.
    case volatileLRU = "volatile-lru"
    /// The least frequently used key, by Redis's decaying logarithmic counter.
    case allKeysLFU = "allkeys-lfu"
    /// The least frequently used key among those with a TTL.
    case volatileLFU = "volatile-lfu"
    /// The key with the nearest deadline.
    case volatileTTL = "volatile-ttl"
    /// Any key, at random.
    case allKeysRandom = "allkeys-random"
    /// Keygate's default: the least frequently read key by a TinyLFU sketch that remembers
    /// the reads of keys not held too, and a new key is kept only when it is read more
    /// often than the key it would evict (see README, "Memory").
    case allKeysTinyLFU = "allkeys-tinylfu"

    /// The policy when `--max-memory` is set and none is named.
    package static let `default` = EvictionPolicy.allKeysTinyLFU

    /// Whether only keys with a TTL may be evicted.
    var isVolatileOnly: Bool {
        switch self {
        case .volatileLRU, .volatileLFU, .volatileTTL: true
        default: false
        }
    }
}
