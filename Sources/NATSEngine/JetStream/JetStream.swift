import FoundationEssentials
import Glibc

/// JetStream's API, spoken as JSON requests over a NATS connection: streams, their messages,
/// consumers, and publishing with an acknowledgement.
///
/// Each call is one round trip to the stream's leader (or the meta leader, for creation), and
/// throws a `NATSError` for a client failure (no server, a timeout) or JetStream's refusal.
struct JetStream: Sendable {
    /// The connection the requests go over.
    let connection: NATSConnection
    /// How long one request may wait for its answer.
    let timeout: Duration

    /// Publishes `body` with `headers` to `subject` and waits for the stream's acknowledgement;
    /// again for up to a second while the stream has no leader to take it (one is being
    /// elected), since nobody stored a publication nobody answered.
    func publish(_ subject: String, headers: [String: String] = [:], body: [UInt8] = []) throws(NATSError)
        -> PublishAcknowledgement
    {
        try Self.retryingLeaderless { () throws(NATSError) in
            let answer = try connection.request(
                NATSMessage(subject: subject, headers: headers, body: body), timeout: timeout)
            return try decode(PublishAcknowledgement.self, from: answer)
        }
    }

    /// Runs `body` again for up to a second while nobody answers it, or JetStream says no
    /// leader can yet: a stream or consumer just created, or whose leader just left, may have
    /// none for a moment. Neither answer means anything was done.
    static func retryingLeaderless<Value>(_ body: () throws(NATSError) -> Value) throws(NATSError) -> Value {
        let deadline = ContinuousClock.now + .seconds(1)
        while true {
            do {
                return try body()
            } catch let error
                where (error.isNoResponders || error.isJetStream(NATSError.clusterUnavailable))
                && ContinuousClock.now < deadline
            {
                usleep(20_000)
            }
        }
    }

    /// Creates a stream, or leaves it as it is when one of that name exists.
    func createStream(_ configuration: StreamConfiguration) throws(NATSError) {
        let body = try encode(configuration)
        do {
            _ = try call("$JS.API.STREAM.CREATE.\(configuration.name)", body, as: Ignored.self)
        } catch let error where error.isJetStream(10058) {
            // Already there with another configuration (another deployment's limits): used as is.
        }
    }

    /// The state of a stream; with `subjects`, the messages of each subject matching it.
    func streamInfo(_ stream: String, subjects: String? = nil) throws(NATSError) -> StreamInfo {
        let request = StreamInfoRequest(subjectsFilter: subjects)
        return try call("$JS.API.STREAM.INFO.\(stream)", try encode(request), as: StreamInfo.self)
    }

    /// The last message of `subject`, from the stream's leader; `nil` when it has none.
    func lastMessage(_ stream: String, subject: String) throws(NATSError) -> StoredMessage? {
        try message(stream, MessageRequest(lastBySubject: subject))
    }

    /// The first message of `subject` at or after `sequence`; `nil` when none.
    func nextMessage(_ stream: String, subject: String, from sequence: UInt64) throws(NATSError)
        -> StoredMessage?
    {
        try message(stream, MessageRequest(sequence: sequence, nextBySubject: subject))
    }

    private func message(_ stream: String, _ request: MessageRequest) throws(NATSError) -> StoredMessage? {
        do {
            let answer = try call(
                "$JS.API.STREAM.MSG.GET.\(stream)", try encode(request), as: MessageAnswer.self)
            return try answer.message.stored()
        } catch let error where error.isJetStream(NATSError.messageNotFound) {
            return nil
        }
    }

    /// Removes the messages of `subject` below `sequence` (all of them when `nil`).
    func purge(_ stream: String, subject: String, below sequence: UInt64? = nil) throws(NATSError) {
        _ = try call(
            "$JS.API.STREAM.PURGE.\(stream)", try encode(PurgeRequest(filter: subject, sequence: sequence)),
            as: Ignored.self)
    }

    /// Creates a durable consumer, or leaves the one of that name as it is.
    func createConsumer(_ stream: String, _ configuration: ConsumerConfiguration) throws(NATSError) {
        do {
            try putConsumer(stream, configuration, action: "create")
        } catch let error where error.isJetStream(NATSError.consumerExists) {
            // There already, configured otherwise (a queue's policy): kept.
        }
    }

    /// Creates a durable consumer or changes the one of that name to `configuration`.
    func createOrUpdateConsumer(_ stream: String, _ configuration: ConsumerConfiguration) throws(NATSError) {
        try putConsumer(stream, configuration, action: nil)
    }

    private func putConsumer(_ stream: String, _ configuration: ConsumerConfiguration, action: String?)
        throws(NATSError)
    {
        let request = ConsumerCreateRequest(streamName: stream, config: configuration, action: action)
        _ = try call(
            "$JS.API.CONSUMER.CREATE.\(stream).\(configuration.durableName)", try encode(request),
            as: Ignored.self)
    }

    /// The message of stream sequence `sequence`; `nil` when there is none.
    func message(_ stream: String, sequence: UInt64) throws(NATSError) -> StoredMessage? {
        try message(stream, MessageRequest(sequence: sequence))
    }

    /// Removes the message of stream sequence `sequence`; `false` when it was not there.
    func deleteMessage(_ stream: String, sequence: UInt64) throws(NATSError) -> Bool {
        do {
            _ = try call(
                "$JS.API.STREAM.MSG.DELETE.\(stream)", try encode(DeleteRequest(seq: sequence)),
                as: Ignored.self)
            return true
        } catch let error where error.isJetStream(NATSError.messageNotFound) {
            return false
        }
    }

    /// The state of a consumer: its messages not yet delivered and those delivered but not yet
    /// acknowledged.
    func consumerInfo(_ stream: String, _ name: String) throws(NATSError) -> ConsumerInfo {
        try call("$JS.API.CONSUMER.INFO.\(stream).\(name)", [], as: ConsumerInfo.self)
    }

    /// One API request and its JSON answer, or JetStream's error.
    private func call<Answer: Decodable>(_ subject: String, _ body: [UInt8], as type: Answer.Type)
        throws(NATSError) -> Answer
    {
        let answer = try connection.request(NATSMessage(subject: subject, body: body), timeout: timeout)
        return try decode(type, from: answer)
    }

    private func decode<Answer: Decodable>(_ type: Answer.Type, from answer: NATSMessage) throws(NATSError)
        -> Answer
    {
        if answer.status == 503 {
            throw .client(function: "JetStream", status: "no responders (no JetStream leader)")
        }
        let data = Data(answer.body)
        // Only an answer naming an `error` member can be one: most are decoded once.
        if answer.body.firstRange(of: Self.errorMember) != nil,
            let failure = try? JSONDecoder().decode(ErrorAnswer.self, from: data), let error = failure.error
        {
            throw .jetStream(code: error.errCode, description: error.description)
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw .malformedAnswer("\(error): \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
        }
    }

    /// The name of the member that holds a refusal, as it appears in an answer.
    private static let errorMember = Array(#""error""#.utf8)

    /// `value` as JSON with the snake_case keys the JetStream API takes.
    private func encode(_ value: some Encodable) throws(NATSError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw .malformedAnswer("could not encode a request: \(error)")
        }
    }
}
