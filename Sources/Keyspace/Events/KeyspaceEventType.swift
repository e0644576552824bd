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
    /// A message was appended to a queue (pushed, moved or dead-lettered there, or put back
    /// in line because its consumer could not take it).
    case push
    /// A message was taken from a queue.
    case pop
    /// A message was received on a lease: it stays in its queue, invisible.
    case lease
    /// A leased message was acknowledged: it is gone for good.
    case ack
    /// A message became visible: its lease ended (`expired`), its consumer released it
    /// (`released`), or its delay ended (`delayed`).
    case release
    /// A message whose last allowed lease ended unacknowledged went to the dead-letter queue.
    case deadletter
    /// A queue's policy was set or reset.
    case policy
}

extension KeyspaceEventType {
    /// This type's bit in a set of types held as one word (`EventFilter`). O(1).
    var bit: UInt32 {
        switch self {
        case .set: 1 << 0
        case .del: 1 << 1
        case .expire: 1 << 2
        case .persist: 1 << 3
        case .expired: 1 << 4
        case .evicted: 1 << 5
        case .push: 1 << 6
        case .pop: 1 << 7
        case .lease: 1 << 8
        case .ack: 1 << 9
        case .release: 1 << 10
        case .deadletter: 1 << 11
        case .policy: 1 << 12
        }
    }
}
