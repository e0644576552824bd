/// One streamed response: its source and its waker, read by libmicrohttpd's content reader.
final class StreamConnection: Sendable {
    /// What produces the body.
    let source: any HTTPStreamSource
    /// What wakes the connection after a pause.
    let waker: StreamWaker

    init(source: any HTTPStreamSource, waker: StreamWaker) {
        self.source = source
        self.waker = waker
    }

    /// What the content reader answers.
    enum Read {
        /// This many bytes were written to the buffer.
        case bytes(Int)
        /// Nothing now; the connection is suspended until woken.
        case suspended
        /// The body is complete.
        case end
    }

    /// Fills `buffer` with the next bytes, or suspends, or ends; on the connection's thread.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Read {
        while !waker.isClosing {
            switch source.next(limit: buffer.count) {
            case .bytes(let bytes) where !bytes.isEmpty:
                precondition(bytes.count <= buffer.count, "a stream source sent more than asked")
                bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
                return .bytes(bytes.count)
            case .end:
                return .end
            case .pause, .bytes:
                if waker.suspendUnlessWoken() {
                    return .suspended
                }
            // Woken between the source's answer and the suspension: read again.
            }
        }
        return .end
    }
}
