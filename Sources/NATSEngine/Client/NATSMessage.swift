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
        // The last five tokens are the same in both forms of the subject: counted from the
        // end, pending, time, consumer sequence, stream sequence, delivered. They are read
        // from the end, byte by byte, since every delivered message is: splitting the subject
        // cost as much as the rest of an event's arrival.
        var numbers = InlineArray<5, UInt64>(repeating: 0)
        var digits = InlineArray<5, Int>(repeating: 0)
        var token = 0
        for byte in reply.utf8.reversed() {
            if byte == UInt8(ascii: ".") {
                token += 1
                // Nine tokens at least: `$JS`, `ACK`, the stream, the consumer and these five.
                if token == 8 { break }
            } else if token < 5 && token != Self.timeToken {
                let digit = UInt64(byte &- UInt8(ascii: "0"))
                // 19 digits always fit in 64 bits.
                guard digit < 10, digits[token] < 19 else { return nil }
                numbers[token] += digit * Self.powersOfTen[digits[token]]
                digits[token] += 1
            }
        }
        guard token == 8, digits[0] > 0, digits[2] > 0, digits[3] > 0, digits[4] > 0 else { return nil }
        return Delivery(
            streamSequence: numbers[3], consumerSequence: numbers[2], delivered: numbers[4],
            pending: numbers[0])
    }

    /// The token of the delivery's time, counted from the end of its subject: not read.
    private static let timeToken = 1

    /// 10⁰ to 10¹⁸.
    private static let powersOfTen = Array(sequence(first: UInt64(1)) { $0 * 10 }.prefix(19))

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
