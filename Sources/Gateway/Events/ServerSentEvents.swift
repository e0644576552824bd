import Keyspace

/// The server-sent events wire format (HTML Living Standard, section 9.2), as bytes.
///
/// Pure: every function returns the bytes of one block, ending with the blank line that
/// dispatches it. Data never holds a line break: events are one line of JSON.
enum ServerSentEvents {
    /// The reconnection delay a client should use, sent once at the start.
    static func retry(milliseconds: Int) -> [UInt8] {
        Array("retry: \(milliseconds)\n\n".utf8)
    }

    /// A comment line, ignored by clients: the heartbeat.
    static func comment(_ text: String) -> [UInt8] {
        Array(":\(text)\n\n".utf8)
    }

    /// A keyspace event: `id` (the position it brings its subscriber to), `event` (its type)
    /// and `data`, its `json` (UTF-8).
    static func event(_ event: KeyspaceEvent, json: [UInt8]) -> [UInt8] {
        var block = Array("id: \(event.position)\nevent: \(event.type.rawValue)\ndata: ".utf8)
        block.reserveCapacity(block.count + json.count + 2)
        block += json
        block += [UInt8(ascii: "\n"), UInt8(ascii: "\n")]
        return block
    }

    /// A `gap`: the events with ids in `lost` will not be delivered. Its id is the last lost
    /// one, so a client resuming after it does not hear of the same gap again.
    static func gap(_ lost: ClosedRange<UInt64>) -> [UInt8] {
        let json = #"{"type":"gap","from":\#(lost.lowerBound),"to":\#(lost.upperBound)}"#
        return Array("id: \(lost.upperBound)\nevent: gap\ndata: \(json)\n\n".utf8)
    }
}
