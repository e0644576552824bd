import Plumbing

/// The expiry index: keys by deadline, earliest first, each with a stable handle kept by its
/// entry, so that a key overwritten, deleted or persisted leaves the index at once.
typealias ExpiryIndex = DeadlineHeap<Timestamp, Key>
