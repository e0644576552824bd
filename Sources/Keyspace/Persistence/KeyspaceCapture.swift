/// The keyspace at one instant, for a snapshot: its entries (shared with the live keyspace
/// until either changes) and the counters that must go on after a restart.
struct KeyspaceCapture {
    /// Every key, expired ones not yet removed included.
    let entries: EntryTable
    /// The same keys in byte order, in which the snapshot lists them, so that loading it
    /// appends to the ordered index instead of inserting at random places.
    let order: SortedKeyIndex
    /// The queues' policies.
    let policies: [Key: QueuePolicy]
    /// The newest version given out.
    let lastVersion: UInt64
    /// The id of the newest event.
    let lastEventID: UInt64
}
