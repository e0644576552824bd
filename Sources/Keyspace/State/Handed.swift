/// What a consumption took, as the keyspace knows it: `KeyspaceEngine` turns it into the
/// `Handover` its consumer sees (signing the receipts of leases).
enum Handed: Sendable, Equatable {
    /// A message taken from `queue`.
    case popped(queue: Key, message: QueueMessage)
    /// Messages leased from `queue`.
    case received(queue: Key, leases: [LeaseGrant])
    /// A message taken from `source` and appended to `destination`.
    case moved(from: Key, message: QueueMessage, to: Key)
    /// A waiting consumer that cannot be served.
    case failed(KeyspaceError)
}
