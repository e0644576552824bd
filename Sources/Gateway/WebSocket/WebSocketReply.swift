import FoundationEssentials
import Keyspace

/// The messages a WebSocket session sends, as JSON text: replies to requests, and the events,
/// gaps and ends of subscriptions.
///
/// Each is written straight into one buffer, members in a fixed order: `id` and `ok` first,
/// then the others in the order they were set.
enum WebSocketReply {
    /// `{"id", "ok": true, …members}`. O(size).
    static func success(_ id: JSONValue, _ members: JSONMembers = [:]) -> String {
        var writer = JSONWriter()
        writer.append(raw: #"{"id":"#)
        writer.append(id)
        writer.append(raw: #","ok":true"#)
        members.write(to: &writer)
        writer.append(raw: "}")
        return writer.text
    }

    /// `{"id", "ok": false, "error": problem}`, the problem as the REST API would answer it.
    static func failure(_ id: JSONValue, _ problem: Problem) -> String {
        var writer = JSONWriter(capacity: 256)
        writer.append(raw: #"{"id":"#)
        writer.append(id)
        writer.append(raw: #","ok":false,"error":{"type":"#)
        writer.appendString(problem.type)
        writer.append(raw: #","title":"#)
        writer.appendString(problem.title)
        writer.append(raw: #","status":"#)
        writer.appendInteger(Int64(problem.status))
        writer.append(raw: #","detail":"#)
        writer.appendString(problem.detail)
        writer.append(raw: "}}")
        return writer.text
    }

    /// The members describing a value: `value` when its bytes are UTF-8, else `valueBase64`,
    /// then `contentType`.
    static func payload(_ payload: Payload) -> JSONMembers {
        // UTF8Span validates without String(validating:)'s unspecialized generic path, which
        // cost three times as much on a short value.
        if let text = try? UTF8Span(validating: payload.bytes.span) {
            return ["value": .string(String(copying: text)), "contentType": .string(payload.contentType)]
        }
        return [
            "valueBase64": .string(Data(payload.bytes).base64EncodedString()),
            "contentType": .string(payload.contentType),
        ]
    }

    /// The reply to a pop that got a message: the value and the queue it came from.
    static func message(_ id: JSONValue, _ message: Payload, from queue: Key) -> String {
        var members = payload(message)
        members["queue"] = .string(queue.text)
        return success(id, members)
    }

    /// The reply to a receive: the queue and the messages leased, none when the wait ended
    /// with none.
    static func received(_ id: JSONValue, _ messages: [LeasedMessage], from queue: Key) -> String {
        var writer = JSONWriter(capacity: 160 + messages.reduce(0) { $0 + $1.queued.message.bytes.count })
        writer.append(raw: #"{"id":"#)
        writer.append(id)
        writer.append(raw: #","ok":true,"queue":"#)
        writer.appendString(queue.text)
        writer.append(raw: #","messages":"#)
        QueueJSON.appendLeased(messages, to: &writer)
        writer.append(raw: "}")
        return writer.text
    }

    /// The reply to a pop that got nothing before its wait ended: `queue` and `value` null.
    static func noMessage(_ id: JSONValue) -> String {
        success(id, ["queue": .null, "value": .null])
    }

    /// An event of a subscription, `event` being the event's JSON object.
    static func event(subscription: Int, json event: String) -> String {
        #"{"subscription":\#(subscription),"event":\#(event)}"#
    }

    /// Events of a subscription that the history no longer holds.
    static func gap(subscription: Int, lost: ClosedRange<UInt64>) -> String {
        #"{"subscription":\#(subscription),"gap":{"from":\#(lost.lowerBound),"to":\#(lost.upperBound)}}"#
    }

    /// The end of a subscription the server ended; `reason` says why.
    static func ended(subscription: Int, reason: String) -> String {
        var writer = JSONWriter()
        writer.append(raw: #"{"subscription":"#)
        writer.appendInteger(Int64(subscription))
        writer.append(raw: #","ended":true,"reason":"#)
        writer.appendString(reason)
        writer.append(raw: "}")
        return writer.text
    }
}
