import Keyspace
import MicroHTTPD

/// The answer of a pop that got a message.
enum MessageResponse {
    /// 200 with the message bytes, its media type, and `Queue` naming the queue it came from
    /// (percent-encoded as in the path, so that any name fits a header).
    static func make(_ message: Payload, from queue: Key) -> HTTPResponse {
        HTTPResponse(
            status: .ok,
            headers: [
                HTTPHeader("Content-Type", message.contentType),
                HTTPHeader("Queue", KeyText.pathSegment(queue)),
            ],
            body: message.bytes)
    }
}
