/// One streamed response: its source and its waker, read by libmicrohttpd's content reader.
///
/// libmicrohttpd sends the head and the first pieces. At the source's first pause, a
/// connection without TLS is suspended and its socket handed to an upgrade loop, which from
/// then on writes the body itself (`StreamPump`): waking such a stream costs a service request
/// on that loop instead of a resume and a suspension of the connection, and its sends leave
/// libmicrohttpd's threads free for requests. libmicrohttpd has sent everything before the
/// reader is called, so the loop's chunks follow its own on the socket. When the loop is done,
/// it hands the connection back (`handBack`), and the reader ends the body, or the connection
/// if the stream was cut short. A TLS connection's socket carries records, so libmicrohttpd
/// writes all of its body, resumed and suspended between pieces.
final class StreamConnection: Sendable {
    /// What produces the body.
    let source: any HTTPStreamSource
    /// What wakes the connection after a pause.
    let waker: StreamWaker
    /// Where the stream goes at its first pause, with its socket; `nil` for libmicrohttpd.
    private let adoption: (loops: UpgradeLoops, descriptor: Int32)?

    /// A stream of `source` woken by `waker`; written by `loops` after its first pause, through
    /// `descriptor`, when given.
    init(source: any HTTPStreamSource, waker: StreamWaker, loops: UpgradeLoops?, descriptor: Int32) {
        self.source = source
        self.waker = waker
        adoption = loops.flatMap { descriptor >= 0 ? ($0, descriptor) : nil }
    }

    /// What the content reader answers.
    enum Read {
        /// This many bytes were written to the buffer.
        case bytes(Int)
        /// Nothing now; the connection is suspended until woken.
        case suspended
        /// The body is complete.
        case end
        /// The stream was cut short (its client left): close the connection.
        case failed
    }

    /// Fills `buffer` with the next bytes, or suspends (handing the stream to a loop), or
    /// ends; on the connection's thread.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Read {
        while true {
            if let isComplete = waker.ending {
                return isComplete ? .end : .failed
            }
            switch source.next(limit: buffer.count) {
            case .bytes(let bytes) where !bytes.isEmpty:
                precondition(bytes.count <= buffer.count, "a stream source sent more than asked")
                bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
                return .bytes(bytes.count)
            case .end:
                return .end
            case .pause, .bytes:
                let pump = adoption.map { _ in StreamPump(source: source) }
                switch waker.pause(handingTo: pump) {
                case .woken:
                    // Woken between the source's answer and the pause: read again.
                    continue
                case .suspended:
                    return .suspended
                case .adopted:
                    if let adoption, let pump {
                        adoption.loops.adopt(descriptor: adoption.descriptor, connection: self, handler: pump)
                    }
                    return .suspended
                case .ending:
                    return waker.ending == false ? .failed : .end
                }
            }
        }
    }

    /// The loop is done writing the stream: libmicrohttpd takes the connection back and ends
    /// the body, or the connection when not `isComplete`. Once, from the loop.
    func handBack(isComplete: Bool) {
        waker.handBack(isComplete: isComplete)
    }
}
