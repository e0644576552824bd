/// Bytes and the media type they are in: the value of a string key, or one queue message.
package struct Payload: Sendable, Equatable {
    /// The media type when a writer gives none.
    package static let defaultContentType = "application/octet-stream"

    /// The bytes, exactly as written.
    package var bytes: [UInt8]
    /// The media type, exactly as written.
    package var contentType: String

    /// Creates a value.
    package init(bytes: [UInt8], contentType: String = Payload.defaultContentType) {
        self.bytes = bytes
        self.contentType = contentType
    }
}
