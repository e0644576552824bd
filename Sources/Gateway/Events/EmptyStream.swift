import MicroHTTPD

/// A stream body with nothing in it, for a `HEAD` of a streamed resource: its headers are a
/// stream's (chunked, no length), and no body follows.
final class EmptyStream: HTTPStreamSource {
    func start(_ waker: StreamWaker) {}

    func next(limit: Int) -> StreamChunk {
        .end
    }

    func finish() {}
}
