import Keyspace

/// The last message of a key's subject in the value stream: a string value, the time to live
/// of a queue, or a deletion.
///
/// Its header fields say which (`Keygate-Kind`), the deadline to the millisecond
/// (`Keygate-Deadline`), the version a TTL change kept (`Keygate-Version`; else the message's
/// sequence is the version), the media type (`Keygate-Content-Type`, percent-encoded), when
/// the change was made (`Keygate-Time`) and by which gateway (`Keygate-Gateway`). `Nats-TTL`
/// makes the cluster drop it about a second after its deadline, rounded up: Keygate hides it
/// from the deadline on.
struct Record: Sendable {
    /// What a record holds.
    enum Kind: String, Sendable {
        /// A string value.
        case string
        /// A queue's time to live (its messages are in the queue stream).
        case queue
        /// A deletion (kept a second, so that watchers see it).
        case deleted
    }

    var kind: Kind
    /// The message's sequence in the value stream: what a conditional write expects.
    var sequence: UInt64
    /// The version of a string (its entity tag).
    var version: Version
    var deadline: Timestamp?
    /// The value of a string.
    var payload: Payload?
    /// The bytes of a string's value (from `Nats-Msg-Size` in a watch without bodies).
    var size: Int
    /// Whether the cluster drops it by itself (`Nats-TTL`); a deadline past the longest TTL
    /// stored is removed by the gateway that reaches it.
    var expiresInStorage: Bool
    /// The gateway that wrote it (its inbox), if it said.
    var writer: String?

    /// Header field names.
    enum Field {
        static let kind = "Keygate-Kind"
        static let deadline = "Keygate-Deadline"
        static let version = "Keygate-Version"
        static let contentType = "Keygate-Content-Type"
        static let time = "Keygate-Time"
        static let ttl = "Nats-TTL"
        static let expectedSequence = "Nats-Expected-Last-Subject-Sequence"
        static let messageID = "Nats-Msg-Id"
        static let size = "Nats-Msg-Size"
        static let event = "Keygate-Event"
        static let reason = "Keygate-Reason"
        /// When a delayed message is due (Unix milliseconds).
        static let due = "Keygate-Due"
        /// A dead-lettered message's id in the queue it came from.
        static let messageNumber = "Keygate-Message-Id"
        /// The leases a dead-lettered message had in the queue it came from.
        static let attempts = "Keygate-Attempts"
        static let writer = "Keygate-Gateway"
    }

    /// Reads a record from a message's header fields and body (or size, with no body).
    init?(sequence: UInt64, headers: [String: String], body: [UInt8]?) {
        guard let kind = headers[Field.kind].flatMap(Kind.init(rawValue:)) else { return nil }
        self.kind = kind
        self.sequence = sequence
        version = Version(headers[Field.version].flatMap { UInt64($0) } ?? sequence)
        deadline = headers[Field.deadline].flatMap { Int64($0) }.map { Timestamp(milliseconds: $0) }
        expiresInStorage = headers[Field.ttl] != nil
        writer = headers[Field.writer]
        if let body {
            size = body.count
            if kind == .string {
                let contentType =
                    headers[Field.contentType].map(HeaderText.decode) ?? Payload.defaultContentType
                payload = Payload(bytes: body, contentType: contentType)
            }
        } else {
            size = headers[Field.size].flatMap { Int($0) } ?? 0
        }
    }

    /// Whether the record holds a string or a queue's TTL that has not reached its deadline.
    func isLive(at now: Timestamp) -> Bool {
        kind != .deleted && (deadline.map { now < $0 } ?? true)
    }

    /// The header fields of a record of `kind` written at `now`, expiring at `deadline`, in
    /// place of the message of sequence `expected` (0: none).
    static func headers(
        _ kind: Kind, at now: Timestamp, deadline: Timestamp?, expected: UInt64, version: Version? = nil,
        contentType: String? = nil
    ) -> [String: String] {
        var headers = [
            Field.kind: kind.rawValue, Field.time: String(now.milliseconds),
            Field.expectedSequence: String(expected),
        ]
        if let deadline {
            headers[Field.deadline] = String(deadline.milliseconds)
            if deadline.milliseconds - now.milliseconds <= longestStorageTTL {
                headers[Field.ttl] = storageTTL(until: deadline, from: now)
            }
        } else if kind == .deleted {
            headers[Field.ttl] = "1s"
        }
        if let version {
            headers[Field.version] = String(version.rawValue)
        }
        if let contentType {
            headers[Field.contentType] = HeaderText.encode(contentType)
        }
        return headers
    }

    /// The longest TTL given to the cluster, in milliseconds: ten years. Longer ones (up to
    /// Keygate's 317 years) overflow the server's nanoseconds and are refused (error 10165),
    /// so such a record has none, and the gateway that reaches its deadline deletes it.
    static let longestStorageTTL: Int64 = 10 * 365 * 86_400_000

    /// JetStream's TTL for a deadline: whole seconds, rounded up, at least one. The cluster
    /// drops fractions of a second (a `1.9s` TTL removed the message after 1.0 s), and refuses
    /// less than a second, so rounding up keeps every message to its deadline or beyond.
    static func storageTTL(until deadline: Timestamp, from now: Timestamp) -> String {
        let milliseconds = max(deadline.milliseconds - now.milliseconds, 1)
        return "\((milliseconds + 999) / 1000)s"
    }
}

/// Text carried in a header field: bytes outside printable ASCII, and `%`, percent-encoded.
enum HeaderText {
    static func encode(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "%") {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                encoded += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return encoded
    }

    static func decode(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
