/// What became of one receipt of an acknowledgement.
package enum LeaseStatus: Sendable, Equatable {
    /// The lease was current: its message is gone for good.
    case acknowledged
    /// The receipt was given out for this queue, but its lease has ended (it passed, the
    /// message was released, acknowledged already, or removed): the message may be with
    /// another consumer now.
    case expired
    /// The receipt was never given out for this queue.
    case unknown
}
