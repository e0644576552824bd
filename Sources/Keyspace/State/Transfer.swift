/// A message leaving one queue for another, in one change: the log records it as one record,
/// so that no crash leaves it in both queues or in neither.
struct Transfer: Equatable {
    /// Why it moved.
    enum Kind: Equatable {
        /// A move (`POST /v1/queues/{src}/pop?to=`).
        case move
        /// Its last allowed lease ended unacknowledged.
        case deadLetter
    }

    /// Why it moved.
    let kind: Kind
    /// The queue it left.
    let source: Key
    /// The message's id.
    let id: UInt64
    /// Whether it was the last message of `source`, which is then removed.
    let emptied: Bool
    /// The queue whose line it joined, at `place`; `nil` when it went straight to a consumer.
    let destination: Key?
    /// Its place in `destination`'s line.
    let place: UInt64
    /// The version of `destination` when the message created it.
    let created: Version?
}
