import Keyspace
import MicroHTTPD

extension HTTPResponse {
    /// A value read: 200 with its bytes, media type and entity tag, or a 304 when the client's
    /// `If-None-Match` names its version.
    static func value(_ stored: Versioned<Payload>, ifNoneMatch known: WriteCondition.Versions?)
        -> HTTPResponse
    {
        let entityTag = HTTPHeader("ETag", EntityTag.of(stored.version))
        if let known, known.contains(stored.version) {
            // The body is not sent; it makes libmicrohttpd's Content-Length the representation's
            // length, the only one RFC 9110 allows on a 304.
            return HTTPResponse(status: .notModified, headers: [entityTag], body: stored.value.bytes)
        }
        return HTTPResponse(
            status: .ok,
            headers: [HTTPHeader("Content-Type", stored.value.contentType), entityTag],
            body: stored.value.bytes)
    }

    /// A value written at `path`: 201 with it as `Location` when new, 204 when replaced; its
    /// entity tag.
    static func written(_ outcome: WriteOutcome, path: ArraySlice<UInt8>) -> HTTPResponse {
        let entityTag = HTTPHeader("ETag", EntityTag.of(outcome.version))
        switch outcome {
        case .created:
            let location = String(decoding: path, as: UTF8.self)
            return HTTPResponse(status: .created, headers: [HTTPHeader("Location", location), entityTag])
        case .replaced:
            return HTTPResponse(status: .noContent, headers: [entityTag])
        }
    }

    /// The answer of a pop: 200 with the message bytes, its media type, and `Queue` naming the
    /// queue it came from (percent-encoded as in the path, so that any name fits a header); 204
    /// when none came.
    static func popped(_ popped: PoppedMessage?) -> HTTPResponse {
        guard let popped else { return HTTPResponse(status: .noContent) }
        return HTTPResponse(
            status: .ok,
            headers: [
                HTTPHeader("Content-Type", popped.message.contentType),
                HTTPHeader("Queue", KeyText.pathSegment(popped.queue)),
            ],
            body: popped.message.bytes)
    }
}
