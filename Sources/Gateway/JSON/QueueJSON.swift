import FoundationEssentials
import Keyspace

/// Queue messages, leases and policies as JSON, the same for REST and WebSocket: a message is
/// `{"id", "text" | "base64", "contentType", "bytes", "attempts", "enqueuedAt"}` (times in Unix
/// milliseconds), with `"receipt"` and `"visibleUntil"` when leased.
///
/// Messages are written straight into a `JSONWriter`, members in that order, with no
/// dictionary built: a receive answers with them on every request.
enum QueueJSON {
    /// Appends `messages`, received on leases, as a JSON array. O(size).
    static func appendLeased(_ messages: [LeasedMessage], to writer: inout JSONWriter) {
        writer.append(raw: "[")
        for (index, leased) in messages.enumerated() {
            if index > 0 {
                writer.append(raw: ",")
            }
            appendMessage(
                leased.queued, receipt: leased.receipt, visibleUntil: leased.visibleUntil, to: &writer)
        }
        writer.append(raw: "]")
    }

    /// Appends `messages`, as they wait in their queue, as a JSON array. O(size).
    static func appendQueued(_ messages: [QueuedMessage], to writer: inout JSONWriter) {
        writer.append(raw: "[")
        for (index, message) in messages.enumerated() {
            if index > 0 {
                writer.append(raw: ",")
            }
            appendMessage(message, receipt: nil, visibleUntil: nil, to: &writer)
        }
        writer.append(raw: "]")
    }

    /// The body of a receive: `{"messages": [...]}`.
    static func received(_ messages: [LeasedMessage]) -> [UInt8] {
        var writer = JSONWriter(capacity: 160 + messages.reduce(0) { $0 + $1.queued.message.bytes.count })
        writer.append(raw: #"{"messages":"#)
        appendLeased(messages, to: &writer)
        writer.append(raw: "}")
        return writer.bytes
    }

    /// One message: its bytes as `text` when they are UTF-8, as `base64` otherwise. O(size).
    private static func appendMessage(
        _ message: QueuedMessage, receipt: String?, visibleUntil: Timestamp?, to writer: inout JSONWriter
    ) {
        writer.append(raw: #"{"id":"#)
        writer.appendString(message.id)
        if let receipt {
            writer.append(raw: #","receipt":"#)
            writer.appendString(receipt)
        }
        let bytes = message.message.bytes
        // UTF8Span validates without String(validating:)'s unspecialized generic path.
        if (try? UTF8Span(validating: bytes.span)) != nil {
            writer.append(raw: #","text":"#)
            writer.appendString(utf8: bytes)
        } else {
            writer.append(raw: #","base64":"#)
            writer.appendString(Data(bytes).base64EncodedString())
        }
        writer.append(raw: #","contentType":"#)
        writer.appendString(message.message.contentType)
        writer.append(raw: #","bytes":"#)
        writer.appendInteger(Int64(bytes.count))
        writer.append(raw: #","attempts":"#)
        writer.appendInteger(Int64(message.attempts))
        writer.append(raw: #","enqueuedAt":"#)
        writer.appendInteger(message.enqueuedAt.milliseconds)
        if let visibleUntil {
            writer.append(raw: #","visibleUntil":"#)
            writer.appendInteger(visibleUntil.milliseconds)
        }
        writer.append(raw: "}")
    }

    /// A queue's policy: `{"visibility": seconds, "maxReceives": n | null, "deadLetter": name | null}`.
    static func policy(_ policy: QueuePolicy) -> JSONValue {
        .object([
            "visibility": .number(Seconds.of(policy.visibility)),
            "maxReceives": policy.maxReceives.map { .integer(Int64($0)) } ?? .null,
            "deadLetter": policy.deadLetter.map { .string($0.text) } ?? .null,
        ])
    }

    /// What became of the receipts of an acknowledgement: `{"acked": [...], "expired": [...],
    /// "unknown": [...]}`, each receipt in the list of its status, in the order given.
    static func acknowledged(_ receipts: [String], statuses: [LeaseStatus]) -> JSONMembers {
        var lists: [LeaseStatus: [JSONValue]] = [.acknowledged: [], .expired: [], .unknown: []]
        for (receipt, status) in zip(receipts, statuses) {
            lists[status, default: []].append(.string(receipt))
        }
        return [
            "acked": .array(lists[.acknowledged] ?? []),
            "expired": .array(lists[.expired] ?? []),
            "unknown": .array(lists[.unknown] ?? []),
        ]
    }
}
