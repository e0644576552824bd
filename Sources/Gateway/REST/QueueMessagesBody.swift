import FoundationEssentials
import Keyspace

/// The JSON of `GET /v1/queues/{name}/messages`: the queue's length and its oldest messages.
struct QueueMessagesBody: Encodable {
    /// One message: its media type and size, and its bytes as `text` when they are UTF-8,
    /// else as `base64`.
    struct Message: Encodable {
        let contentType: String
        let bytes: Int
        let text: String?
        let base64: String?

        init(_ payload: Payload) {
            contentType = payload.contentType
            bytes = payload.bytes.count
            text = String(validating: payload.bytes, as: UTF8.self)
            base64 = text == nil ? Data(payload.bytes).base64EncodedString() : nil
        }
    }

    let name: String
    let length: Int
    let messages: [Message]
}
