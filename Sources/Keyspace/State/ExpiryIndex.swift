import Plumbing

/// The expiry index: keys (by their slot in the `EntryTable`) by deadline, earliest first, each
/// with a stable handle kept in its record, so that a key overwritten, deleted or persisted
/// leaves the index at once.
typealias ExpiryIndex = DeadlineHeap<Timestamp, UInt32>
