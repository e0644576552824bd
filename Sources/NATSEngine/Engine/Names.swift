import FoundationEssentials
import Keyspace

/// Where a deployment's keyspace lives on the cluster: its streams and their subjects,
/// all under one prefix, so that several deployments share a cluster.
///
/// A key becomes one subject token: the base64url of its bytes (a key may hold `.`, `*`, `>`
/// or spaces, which subjects may not), so `user:1` is `<prefix>.kv.dXNlcjox`.
struct Names: Sendable {
    /// The prefix of every stream and subject: letters, digits, `-` and `_`.
    let prefix: String

    /// The stream of values: the last record of each key.
    var valueStream: String { "\(prefix)_KV" }
    /// The work-queue stream of queue messages.
    var queueStream: String { "\(prefix)_QUEUES" }
    /// The stream of keyspace events, whose sequences are the events' ids.
    var eventStream: String { "\(prefix)_EVENTS" }

    /// Every value subject.
    var valueSubjects: String { "\(prefix).kv.>" }
    /// Every queue subject.
    var queueSubjects: String { "\(prefix).q.>" }
    /// The one subject of events.
    var eventSubject: String { "\(prefix).ev" }
    /// The stream of delayed queue messages, until they are due.
    var delayedStream: String { "\(prefix)_DELAYED" }
    /// Every delayed message subject.
    var delayedSubjects: String { "\(prefix).qd.>" }
    /// The subject of `queue`'s delayed messages.
    func delayedSubject(_ queue: Key) -> String { "\(prefix).qd.\(Self.token(queue))" }
    /// The stream of the deployment's own settings: the key that signs lease receipts.
    var settingStream: String { "\(prefix)_SETTINGS" }
    /// Every setting subject.
    var settingSubjects: String { "\(prefix).setting.>" }
    /// The subject of the key that signs lease receipts, shared by every gateway.
    var receiptKeySubject: String { "\(prefix).setting.receipt-key" }
    /// Every lease notice subject (plain NATS, kept by no stream).
    var leaseSubjects: String { "\(prefix).lease.>" }
    /// The subject of the notices of `queue`'s leases.
    func leaseSubject(_ queue: Key) -> String { "\(prefix).lease.\(Self.token(queue))" }
    /// JetStream's advisories of messages of the queue stream delivered as often as their
    /// consumer allows.
    var lastDeliveryAdvisories: String {
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.\(queueStream).*"
    }
    /// The acknowledgement subject of `lease` of a message of `queue` (JetStream's first form,
    /// which every server takes; time and pending count are not read).
    func acknowledgementSubject(_ lease: LeaseReference, in queue: Key) -> String {
        let delivery = LeaseNotice.delivery(of: lease)
        let count = LeaseNotice.deliveries(of: lease)
        return "$JS.ACK.\(queueStream).\(consumer(queue)).\(count).\(lease.message).\(delivery).0.0"
    }

    /// The subject of `key`'s record.
    func valueSubject(_ key: Key) -> String { "\(prefix).kv.\(Self.token(key))" }

    /// The subject of `queue`'s messages.
    func queueSubject(_ queue: Key) -> String { "\(prefix).q.\(Self.token(queue))" }

    /// Where pull requests for `queue`'s messages go.
    func nextMessageSubject(_ queue: Key) -> String {
        "$JS.API.CONSUMER.MSG.NEXT.\(queueStream).\(consumer(queue))"
    }
    /// The durable consumer that serves `queue`'s pops: `q` and the key's token, or a digest of
    /// it for a long key (consumer names are short).
    func consumer(_ queue: Key) -> String {
        let token = Self.token(queue)
        guard token.utf8.count > 120 else { return "q_\(token)" }
        return "q_h\(Self.digest(queue.bytes))"
    }

    /// The key of a value or queue subject; `nil` for another subject.
    func key(ofSubject subject: String) -> Key? {
        guard let dot = subject.lastIndex(of: ".") else { return nil }
        return Self.key(ofToken: subject[subject.index(after: dot)...])
    }

    /// The base64url (no padding) of the key's bytes.
    static func token(_ key: Key) -> String {
        var text = Data(key.bytes).base64EncodedString()
        text = text.replacing("+", with: "-").replacing("/", with: "_")
        while text.hasSuffix("=") {
            text.removeLast()
        }
        return text
    }

    /// The key a token names; `nil` when it names none.
    static func key(ofToken token: Substring) -> Key? {
        var text = token.replacing("-", with: "+").replacing("_", with: "/")
        while text.count % 4 != 0 {
            text += "="
        }
        guard let data = Data(base64Encoded: String(text)) else { return nil }
        return try? Key(Array(data))
    }

    /// Two FNV-1a hashes of `bytes` with different offsets, in hexadecimal: 128 bits, enough
    /// that two queue names never share a consumer in practice.
    private static func digest(_ bytes: [UInt8]) -> String {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in bytes {
            first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            second = (second ^ UInt64(byte ^ 0x5a)) &* 0x0000_0100_0000_01b3
        }
        return String(first, radix: 16) + String(second, radix: 16)
    }
}
