/// What a caller waits for before acknowledging changes it made: the log's records up to one
/// point on disk.
package struct DurabilityTicket: Sendable, Equatable {
    /// The sequence number of the last record the ticket covers.
    let sequence: UInt64
}
