import FoundationEssentials
import Keyspace

/// The messages a WebSocket session sends, as JSON text: replies to requests, and the events,
/// gaps and ends of subscriptions.
enum WebSocketReply {
    /// `{"id", "ok": true, …members}`.
    static func success(_ id: JSONValue, _ members: [String: JSONValue] = [:]) -> String {
        var object = members
        object["id"] = id
        object["ok"] = .bool(true)
        return JSONValue.object(object).text
    }

    /// `{"id", "ok": false, "error": problem}`, the problem as the REST API would answer it.
    static func failure(_ id: JSONValue, _ problem: Problem) -> String {
        let error: [String: JSONValue] = [
            "type": .string(problem.type), "title": .string(problem.title),
            "status": .integer(Int64(problem.status)), "detail": .string(problem.detail),
        ]
        return JSONValue.object(["id": id, "ok": .bool(false), "error": .object(error)]).text
    }

    /// The members describing a value: `value` when its bytes are UTF-8, else `valueBase64`,
    /// and `contentType`.
    static func payload(_ payload: Payload) -> [String: JSONValue] {
        var members: [String: JSONValue] = ["contentType": .string(payload.contentType)]
        if let text = String(validating: payload.bytes, as: UTF8.self) {
            members["value"] = .string(text)
        } else {
            members["valueBase64"] = .string(Data(payload.bytes).base64EncodedString())
        }
        return members
    }

    /// The reply to a pop that got a message: the queue it came from and the value.
    static func message(_ id: JSONValue, _ message: Payload, from queue: Key) -> String {
        var members = payload(message)
        members["queue"] = .string(queue.text)
        return success(id, members)
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
        JSONValue.object([
            "subscription": .integer(Int64(subscription)), "ended": .bool(true), "reason": .string(reason),
        ]).text
    }
}
