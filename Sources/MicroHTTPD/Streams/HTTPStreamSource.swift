/// Produces the body of an `HTTPStream`, on the connection's thread.
///
/// Between pieces the connection is suspended, costing no thread: the source answers `.pause`
/// when it has nothing, and calls `StreamWaker.wake()` when it has something again.
package protocol HTTPStreamSource: AnyObject, Sendable {
    /// The stream is about to start; `waker` wakes it after a `.pause`.
    func start(_ waker: StreamWaker)

    /// The next bytes of the body, at most `limit` of them.
    func next(limit: Int) -> StreamChunk

    /// The stream is over: it ended, its client left, or the server stops. Called once.
    func finish()
}

/// What a stream source has to send.
package enum StreamChunk: Sendable {
    /// Bytes to send now.
    case bytes([UInt8])
    /// Nothing now: suspend until woken.
    case pause
    /// The body is complete.
    case end
}
