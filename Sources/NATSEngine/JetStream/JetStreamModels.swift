import FoundationEssentials

// Requests are encoded with snake_case keys (`JetStream.encode`): a property's name is its
// field's, in camelCase, unless its CodingKeys say otherwise.

/// A stream's configuration, as `$JS.API.STREAM.CREATE` takes it (the fields Keygate sets).
struct StreamConfiguration: Encodable, Sendable {
    var name: String
    var subjects: [String]
    var retention = "limits"
    var storage = "file"
    var numReplicas: Int
    var maxMsgsPerSubject: Int64 = -1
    var maxMsgs: Int64 = -1
    var discard = "old"
    var allowMsgTtl = false
    /// Nanoseconds.
    var duplicateWindow: Int64?
    var allowDirect = false
}

/// A durable pull consumer's configuration (the fields Keygate sets).
struct ConsumerConfiguration: Encodable, Sendable {
    var durableName: String
    var filterSubject: String
    var ackPolicy = "explicit"
    /// Nanoseconds.
    var ackWait: Int64
    /// How many times a message may be delivered; -1: without limit.
    var maxDeliver = -1
    var maxWaiting: Int
    var maxAckPending = -1
    /// Nanoseconds; 0: never removed for inactivity.
    var inactiveThreshold: Int64
    var metadata: [String: String]?
}

struct ConsumerCreateRequest: Encodable {
    var streamName: String
    var config: ConsumerConfiguration
    /// `create` (refused when the consumer exists with another configuration), `update`, or
    /// `nil`: either.
    var action: String?
}

struct StreamInfoRequest: Encodable {
    var subjectsFilter: String?
}

struct MessageRequest: Encodable {
    var sequence: UInt64?
    var lastBySubject: String?
    var nextBySubject: String?

    init(sequence: UInt64? = nil, lastBySubject: String? = nil, nextBySubject: String? = nil) {
        self.sequence = sequence
        self.lastBySubject = lastBySubject
        self.nextBySubject = nextBySubject
    }

    enum CodingKeys: String, CodingKey {
        case sequence = "seq"
        case lastBySubject = "last_by_subj"
        case nextBySubject = "next_by_subj"
    }
}

struct DeleteRequest: Encodable {
    var seq: UInt64
}

struct PurgeRequest: Encodable {
    var filter: String
    var sequence: UInt64?

    enum CodingKeys: String, CodingKey {
        case filter
        case sequence = "seq"
    }
}

/// What a stream holds.
struct StreamInfo: Decodable, Sendable {
    struct State: Decodable, Sendable {
        var messages: UInt64
        var lastSeq: UInt64
        var firstSeq: UInt64
        /// Messages per subject, when asked for with a filter.
        var subjects: [String: UInt64]?
        /// The subjects holding messages; left out when none.
        var subjectCount: UInt64?

        enum CodingKeys: String, CodingKey {
            case messages, subjects
            case subjectCount = "num_subjects"
            case lastSeq = "last_seq"
            case firstSeq = "first_seq"
        }
    }

    var state: State
}

/// What a consumer has yet to deliver, and has delivered without an acknowledgement.
struct ConsumerInfo: Decodable, Sendable {
    struct Delivered: Decodable, Sendable {
        var streamSeq: UInt64

        enum CodingKeys: String, CodingKey {
            case streamSeq = "stream_seq"
        }
    }

    /// The settings that make a queue's policy.
    struct Configuration: Decodable, Sendable {
        /// Nanoseconds.
        var ackWait: Int64
        var maxDeliver: Int?
        var metadata: [String: String]?

        enum CodingKeys: String, CodingKey {
            case metadata
            case ackWait = "ack_wait"
            case maxDeliver = "max_deliver"
        }
    }

    var numPending: UInt64
    var numAckPending: UInt64
    var numWaiting: UInt64
    var delivered: Delivered
    var config: Configuration

    enum CodingKeys: String, CodingKey {
        case delivered, config
        case numPending = "num_pending"
        case numAckPending = "num_ack_pending"
        case numWaiting = "num_waiting"
    }
}

/// A stream's acknowledgement of a published message.
struct PublishAcknowledgement: Decodable, Sendable {
    /// The message's sequence (the earlier one's, for a duplicate).
    var seq: UInt64
    /// Whether the message was a duplicate of one already stored (same `Nats-Msg-Id`).
    var duplicate: Bool?
}

/// A message read back from a stream.
struct StoredMessage: Sendable {
    var subject: String
    var sequence: UInt64
    var headers: [String: String]
    var body: [UInt8]
}

struct MessageAnswer: Decodable {
    struct Raw: Decodable {
        var subject: String
        var seq: UInt64
        var hdrs: String?
        var data: String?

        func stored() throws(NATSError) -> StoredMessage {
            let headerBytes = try hdrs.map { (text) throws(NATSError) in try Self.base64(text) } ?? []
            let body = try data.map { (text) throws(NATSError) in try Self.base64(text) } ?? []
            return StoredMessage(
                subject: subject, sequence: seq, headers: HeaderBlock.parse(headerBytes), body: body)
        }

        private static func base64(_ text: String) throws(NATSError) -> [UInt8] {
            guard let data = Data(base64Encoded: text) else {
                throw .malformedAnswer("bad base64 in a message")
            }
            return Array(data)
        }
    }

    var message: Raw
}

struct ErrorAnswer: Decodable {
    struct Failure: Decodable {
        var code: Int
        var errCode: Int
        var description: String

        enum CodingKeys: String, CodingKey {
            case code, description
            case errCode = "err_code"
        }
    }

    var error: Failure?
}

struct Ignored: Decodable {}

/// NATS's header block (`NATS/1.0\r\nName: value\r\n…\r\n\r\n`), read into a dictionary of
/// first values.
enum HeaderBlock {
    static func parse(_ bytes: [UInt8]) -> [String: String] {
        var headers: [String: String] = [:]
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " })
            if headers[name] == nil {
                headers[name] = String(value)
            }
        }
        return headers
    }
}
