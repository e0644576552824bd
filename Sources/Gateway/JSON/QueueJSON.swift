import FoundationEssentials
import Keyspace

/// Queue messages, leases and policies as JSON, the same for REST and WebSocket: a message is
/// `{"id", "text" | "base64", "contentType", "bytes", "attempts", "enqueuedAt"}` (times in Unix
/// milliseconds), with `"receipt"` and `"visibleUntil"` when leased.
enum QueueJSON {
    /// A message as it waits in its queue. O(size): the bytes are written as `text` when they
    /// are UTF-8, as `base64` otherwise.
    static func message(_ message: QueuedMessage) -> [String: JSONValue] {
        var members: [String: JSONValue] = [
            "id": .string(message.id),
            "contentType": .string(message.message.contentType),
            "bytes": .integer(Int64(message.message.bytes.count)),
            "attempts": .integer(Int64(message.attempts)),
            "enqueuedAt": .integer(message.enqueuedAt.milliseconds),
        ]
        if let text = try? UTF8Span(validating: message.message.bytes.span) {
            members["text"] = .string(String(copying: text))
        } else {
            members["base64"] = .string(Data(message.message.bytes).base64EncodedString())
        }
        return members
    }

    /// A message received on a lease, with its receipt and the end of its lease.
    static func leased(_ leased: LeasedMessage) -> JSONValue {
        var members = message(leased.queued)
        members["receipt"] = .string(leased.receipt)
        members["visibleUntil"] = .integer(leased.visibleUntil.milliseconds)
        return .object(members)
    }

    /// A receive's messages, as an array.
    static func leased(_ messages: [LeasedMessage]) -> JSONValue {
        .array(messages.map(leased))
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
    static func acknowledged(_ receipts: [String], statuses: [LeaseStatus]) -> JSONValue {
        var lists: [LeaseStatus: [JSONValue]] = [.acknowledged: [], .expired: [], .unknown: []]
        for (receipt, status) in zip(receipts, statuses) {
            lists[status, default: []].append(.string(receipt))
        }
        return .object([
            "acked": .array(lists[.acknowledged] ?? []),
            "expired": .array(lists[.expired] ?? []),
            "unknown": .array(lists[.unknown] ?? []),
        ])
    }
}
