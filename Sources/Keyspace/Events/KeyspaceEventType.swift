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
