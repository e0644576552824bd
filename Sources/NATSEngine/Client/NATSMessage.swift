/// One NATS message as a value, copied out of the C client: its subject, reply subject, header
/// fields and body.
struct NATSMessage: Sendable {
    /// Where the message was sent.
    var subject: String
    /// Where an answer goes, if anywhere (JetStream's acknowledgement subject, for deliveries).
    var reply: String?
    /// The header fields, the first value of each; a status line shows as `Status` and
    /// `Description`, as the C client parses it.
    var headers: [String: String]
    /// The body.
    var body: [UInt8]

    /// A message to send.
    init(subject: String, reply: String? = nil, headers: [String: String] = [:], body: [UInt8] = []) {
        self.subject = subject
        self.reply = reply
        self.headers = headers
        self.body = body
    }

    /// The status code of a status message (`404` no messages, `408` request expired, `100`
    /// heartbeat…), `nil` for an ordinary message.
    var status: Int? {
        headers["Status"].flatMap { Int($0) }
    }

    /// The JetStream metadata of a delivered message, read from its reply subject
    /// (`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`,
    /// possibly with a domain and account before the stream). `nil` for another message.
    var delivery: Delivery? {
        guard let reply, reply.hasPrefix("$JS.ACK.") else { return nil }
        let tokens = reply.split(separator: ".", omittingEmptySubsequences: false)
        // The last five tokens are the same in both forms of the subject.
        guard tokens.count >= 9,
            let delivered = UInt64(tokens[tokens.count - 5]),
            let streamSequence = UInt64(tokens[tokens.count - 4]),
            let consumerSequence = UInt64(tokens[tokens.count - 3]),
            let pending = UInt64(tokens[tokens.count - 1])
        else { return nil }
        return Delivery(
            streamSequence: streamSequence, consumerSequence: consumerSequence, delivered: delivered,
            pending: pending)
    }

    /// Where a delivered message stands in its stream and consumer.
    struct Delivery: Sendable, Equatable {
        /// The message's sequence in its stream.
        var streamSequence: UInt64
        /// The delivery's sequence in its consumer: new on every delivery, redeliveries included.
        var consumerSequence: UInt64
        /// How many times it was delivered, this time included.
        var delivered: UInt64
        /// The messages the consumer has yet to deliver after this one.
        var pending: UInt64
    }
}
