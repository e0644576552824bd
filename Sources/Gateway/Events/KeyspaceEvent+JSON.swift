import Keyspace

extension KeyspaceEvent {
    /// The event as a JSON object, `{"id","type","key","time"}` and `"reason"` for the types
    /// that have one, as event streams and WebSocket subscriptions send it; built by hand, since
    /// it is built for every event. The id is a number, or a string when it also names
    /// expirations told ahead (`EventPosition`).
    var json: String {
        var json = announced.isEmpty ? #"{"id":\#(id)"# : #"{"id":"\#(position)""#
        json += #","type":"\#(type.rawValue)","key":""#
        Self.appendEscaped(key.text, to: &json)
        json += #"","time":\#(time.milliseconds)"#
        if let reason {
            json += #","reason":"\#(reason.rawValue)""#
        }
        json += "}"
        return json
    }

    /// Escapes text for a JSON string. Keys hold no control characters, so only the quote and
    /// the backslash need it.
    private static func appendEscaped(_ text: String, to json: inout String) {
        for character in text.unicodeScalars {
            switch character {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            default: json.unicodeScalars.append(character)
            }
        }
    }
}
