import CNATS
import Glibc
import Plumbing

import struct Synchronization.Atomic

/// One connection to a NATS cluster through the C client: requests, publishes, subscriptions
/// and JetStream ordered consumers, with messages copied into Swift values.
///
/// The one file of NATSEngine that sees C: every `@convention(c)` callback and `Unmanaged`
/// pointer is here. The C client reconnects by itself, to any server of the cluster, for as
/// long as the connection is open; `isConnected` says where it stands.
final class NATSConnection: Sendable {
    /// Where to connect and how.
    struct Options: Sendable {
        /// `nats://host:port` of one or more servers of the cluster.
        var urls: [String]
        /// A credentials file (JWT and NKey seed), for a secured cluster.
        var credentialsFile: String?
        /// A PEM file of the certificate authorities to trust, for TLS.
        var trustedCertificates: String?
        /// The name the servers show for this connection.
        var name: String
    }

    /// A subscription; it lives as long as the connection (closing the connection ends it).
    struct Subscription: Sendable {
        fileprivate let pointer: SendablePointer
    }

    /// A subscription for a short while (a parked pop's replies): `end(_:)` unsubscribes it, and
    /// the C client frees it once its last callback has returned.
    struct ShortSubscription: Sendable {
        fileprivate let pointer: SendablePointer
    }

    private let connection: SendablePointer
    private let jetStream: SendablePointer
    private let options: SendablePointer
    /// Every subscription's handler, kept here for the connection's life: the C client holds
    /// them unretained.
    private let handlers = Mutex<[MessageHandler]>([])
    /// Every subscription of the connection's life, destroyed by `close()`: the C client's
    /// closing waits for each of its objects to be destroyed.
    private let lifelongSubscriptions = Mutex<[SendablePointer]>([])
    private let events: Unmanaged<ConnectionEvents>
    private let isClosed = Atomic<Bool>(false)

    /// Opens a connection that keeps trying in the background when no server answers yet;
    /// `onChange` is called (on the client's thread) whenever it connects or loses the cluster.
    static func open(_ given: Options, onChange: @escaping @Sendable (Bool) -> Void) throws(NATSError)
        -> NATSConnection
    {
        _ = nats_Open(-1)
        var options: OpaquePointer?
        try check(natsOptions_Create(&options), "natsOptions_Create")
        guard let options else { throw .client(function: "natsOptions_Create", status: "no options") }
        let events = Unmanaged.passRetained(ConnectionEvents(onChange: onChange))
        do throws(NATSError) {
            try configure(options, given, events: events)
            var connection: OpaquePointer?
            let status = natsConnection_Connect(&connection, options)
            // With a connected callback, a cluster that is not reachable yet is retried in the
            // background rather than failing the start.
            guard status == NATS_OK || status == NATS_NOT_YET_CONNECTED, let connection else {
                throw .client(function: "natsConnection_Connect", status: text(of: status))
            }
            var jetStream: OpaquePointer?
            try check(natsConnection_JetStream(&jetStream, connection, nil), "natsConnection_JetStream")
            guard let jetStream else { throw .client(function: "natsConnection_JetStream", status: "none") }
            return NATSConnection(
                connection: connection, jetStream: jetStream, options: options, events: events)
        } catch {
            natsOptions_Destroy(options)
            events.release()
            throw error
        }
    }

    private init(
        connection: OpaquePointer, jetStream: OpaquePointer, options: OpaquePointer,
        events: Unmanaged<ConnectionEvents>
    ) {
        self.connection = SendablePointer(connection)
        self.jetStream = SendablePointer(jetStream)
        self.options = SendablePointer(options)
        self.events = events
    }

    private static func configure(
        _ options: OpaquePointer, _ given: Options, events: Unmanaged<ConnectionEvents>
    ) throws(NATSError) {
        let context = events.toOpaque()
        try withCStrings(given.urls) { (urls) throws(NATSError) in
            try check(
                natsOptions_SetServers(options, urls, Int32(given.urls.count)), "natsOptions_SetServers")
        }
        try check(natsOptions_SetName(options, given.name), "natsOptions_SetName")
        if let file = given.credentialsFile {
            try check(
                natsOptions_SetUserCredentialsFromFiles(options, file, nil),
                "natsOptions_SetUserCredentialsFromFiles")
        }
        if let file = given.trustedCertificates {
            try check(natsOptions_SetSecure(options, true), "natsOptions_SetSecure")
            try check(
                natsOptions_LoadCATrustedCertificates(options, file), "natsOptions_LoadCATrustedCertificates")
        }
        // Forever, quickly: a gateway must come back by itself when the cluster does.
        try check(natsOptions_SetMaxReconnect(options, -1), "natsOptions_SetMaxReconnect")
        try check(natsOptions_SetReconnectWait(options, 250), "natsOptions_SetReconnectWait")
        try check(natsOptions_SetTimeout(options, 2000), "natsOptions_SetTimeout")
        try check(natsOptions_SetPingInterval(options, 2000), "natsOptions_SetPingInterval")
        try check(natsOptions_SetMaxPingsOut(options, 2), "natsOptions_SetMaxPingsOut")
        // A request made while disconnected fails at once (503) instead of waiting its timeout.
        try check(
            natsOptions_SetFailRequestsOnDisconnect(options, true), "natsOptions_SetFailRequestsOnDisconnect")
        try check(
            natsOptions_SetDisconnectedCB(options, onDisconnected, context), "natsOptions_SetDisconnectedCB")
        try check(
            natsOptions_SetReconnectedCB(options, onReconnected, context), "natsOptions_SetReconnectedCB")
        try check(
            natsOptions_SetRetryOnFailedConnect(options, true, onConnected, context),
            "natsOptions_SetRetryOnFailedConnect")
    }

    /// Whether the connection is up now.
    var isConnected: Bool {
        !isClosed.load(ordering: .acquiring)
            && natsConnection_Status(connection.pointer) == NATS_CONN_STATUS_CONNECTED
    }

    /// Sends `message` and waits up to `timeout` for one answer.
    func request(_ message: NATSMessage, timeout: Duration) throws(NATSError) -> NATSMessage {
        let outgoing = try Self.makeMessage(message)
        defer { natsMsg_Destroy(outgoing) }
        var answer: OpaquePointer?
        // Named by what it asked (`$JS.API.CONSUMER.MSG.NEXT`, `$JS.ACK`, a stream's subject),
        // so that an operator reading a 503 knows which step did not answer.
        let function = "natsConnection_RequestMsg(\(Self.kind(of: message.subject)))"
        try Self.check(
            natsConnection_RequestMsg(&answer, connection.pointer, outgoing, timeout.wholeMilliseconds),
            function)
        guard let answer else { throw .client(function: function, status: "no answer") }
        defer { natsMsg_Destroy(answer) }
        return Self.copy(answer)
    }

    /// The leading upper-case tokens of `subject`: the API call or acknowledgement it is, or
    /// the prefix of a stream's subject, without the names after them.
    private static func kind(of subject: String) -> String {
        subject.split(separator: ".").prefix { token in
            token.allSatisfy { $0.isUppercase || $0 == "$" || $0 == "_" }
        }.joined(separator: ".")
    }

    /// Sends `message` (a pull request) answering to a new inbox, and collects its answers:
    /// up to `count` messages, until a status message (the request is done: `404` or `408`) or
    /// until `timeout` passes. The status message itself is not returned; `503` (nobody
    /// serves the consumer) throws, as a request's would.
    func fetch(_ message: NATSMessage, upTo count: Int, timeout: Duration) throws(NATSError) -> [NATSMessage]
    {
        var message = message
        message.reply = makeInbox()
        var subscription: OpaquePointer?
        try Self.check(
            natsConnection_SubscribeSync(&subscription, connection.pointer, message.reply),
            "natsConnection_SubscribeSync")
        guard let subscription else {
            throw .client(function: "natsConnection_SubscribeSync", status: "none")
        }
        defer {
            _ = natsSubscription_Unsubscribe(subscription)
            natsSubscription_Destroy(subscription)
        }
        try publish(message)
        var answers: [NATSMessage] = []
        let deadline = ContinuousClock.now + timeout
        while answers.count < count {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            var incoming: OpaquePointer?
            let status = natsSubscription_NextMsg(&incoming, subscription, max(1, left.wholeMilliseconds))
            if status == NATS_TIMEOUT { break }
            try Self.check(status, "natsSubscription_NextMsg")
            guard let incoming else { break }
            let answer = Self.copy(incoming)
            natsMsg_Destroy(incoming)
            if answer.status == 503 {
                throw .client(function: "fetch", status: "No responders (no consumer leader)")
            }
            if answer.status != nil { break }
            answers.append(answer)
        }
        return answers
    }

    /// Sends `message` without waiting for anything.
    func publish(_ message: NATSMessage) throws(NATSError) {
        let outgoing = try Self.makeMessage(message)
        defer { natsMsg_Destroy(outgoing) }
        try Self.check(natsConnection_PublishMsg(connection.pointer, outgoing), "natsConnection_PublishMsg")
    }

    /// Calls `handler` with every message on `subject` (wildcards allowed), on the client's
    /// delivery thread, one at a time.
    @discardableResult
    func subscribe(_ subject: String, _ handler: @escaping @Sendable (NATSMessage) -> Void) throws(NATSError)
        -> Subscription
    {
        let context = retain(handler)
        var subscription: OpaquePointer?
        try Self.check(
            natsConnection_Subscribe(&subscription, connection.pointer, subject, onMessage, context),
            "natsConnection_Subscribe")
        guard let subscription else { throw .client(function: "natsConnection_Subscribe", status: "none") }
        return try keep(subscription)
    }

    /// Calls `handler` with every message on `subject` until `end(_:)`; for a subscription of a
    /// short life, whose handler is released when the client is done with it.
    func subscribeBriefly(_ subject: String, _ handler: @escaping @Sendable (NATSMessage) -> Void)
        throws(NATSError) -> ShortSubscription
    {
        // Retained here, released by `onSubscriptionComplete` once the client has delivered its
        // last message to it (after `end`, or when the connection closes).
        let context = Unmanaged.passRetained(MessageHandler(handler)).toOpaque()
        var subscription: OpaquePointer?
        let status = natsConnection_Subscribe(&subscription, connection.pointer, subject, onMessage, context)
        guard status == NATS_OK, let subscription else {
            Unmanaged<MessageHandler>.fromOpaque(context).release()
            throw .client(function: "natsConnection_Subscribe", status: Self.text(of: status))
        }
        _ = natsSubscription_SetOnCompleteCB(subscription, onSubscriptionComplete, context)
        return ShortSubscription(pointer: SendablePointer(subscription))
    }

    /// Unsubscribes: the servers drop pull requests that answer to it, and its handler is
    /// released once its last call returns.
    func end(_ subscription: ShortSubscription) {
        _ = natsSubscription_Unsubscribe(subscription.pointer.pointer)
        natsSubscription_Destroy(subscription.pointer.pointer)
    }

    /// The largest message the servers take (`max_payload`), headers included.
    var maxPayload: Int {
        Int(natsConnection_GetMaxPayload(connection.pointer))
    }

    /// Where an ordered consumer starts.
    enum Start: Sendable {
        /// With the last message of each subject, then every new one.
        case lastPerSubject
        /// With the message of this stream sequence (or the first after it), then every new one.
        case sequence(UInt64)
    }

    /// Delivers every message of `stream` on `subject` from `start` on to `handler`, in stream
    /// order, each once: a JetStream ordered consumer (ephemeral, no acknowledgements,
    /// recreated by the client after a gap or a lost connection). With `headersOnly`, bodies
    /// are left out and `Nats-Msg-Size` tells their size.
    @discardableResult
    func orderedConsumer(
        stream: String, subject: String, start: Start, headersOnly: Bool,
        _ handler: @escaping @Sendable (NATSMessage) -> Void
    ) throws(NATSError) -> Subscription {
        let context = retain(handler)
        var options = jsSubOptions()
        try Self.check(jsSubOptions_Init(&options), "jsSubOptions_Init")
        options.Ordered = true
        options.Config.HeadersOnly = headersOnly
        switch start {
        case .lastPerSubject:
            options.Config.DeliverPolicy = js_DeliverLastPerSubject
        case .sequence(let sequence):
            options.Config.DeliverPolicy = js_DeliverByStartSequence
            options.Config.OptStartSeq = sequence
        }
        var subscription: OpaquePointer?
        var code = jsErrCode(0)
        let status = stream.withCString { streamName in
            options.Stream = streamName
            return js_Subscribe(
                &subscription, jetStream.pointer, subject, onMessage, context, nil, &options, &code)
        }
        guard status == NATS_OK, let subscription else {
            throw .client(
                function: "js_Subscribe(\(stream))", status: "\(Self.text(of: status)) (\(code.rawValue))")
        }
        return try keep(subscription)
    }

    /// Keeps `subscription` until `close()`, lifting its limits on pending messages.
    private func keep(_ subscription: OpaquePointer) throws(NATSError) -> Subscription {
        let pointer = SendablePointer(subscription)
        lifelongSubscriptions.withLock { $0.append(pointer) }
        try Self.unlimit(subscription)
        return Subscription(pointer: pointer)
    }

    /// Ends `subscription` now; its handler may still run for a message already taken.
    func unsubscribe(_ subscription: Subscription) {
        _ = natsSubscription_Unsubscribe(subscription.pointer.pointer)
    }

    /// A new inbox subject, unique to this process.
    func makeInbox() -> String {
        var inbox: UnsafeMutablePointer<CChar>?
        guard natsInbox_Create(&inbox) == NATS_OK, let inbox else {
            return "_INBOX.keygate\(UInt64.random(in: 0...UInt64.max))"
        }
        defer { natsInbox_Destroy(inbox) }
        return String(cString: inbox)
    }

    /// Closes the connection and waits for the client's threads to end; then every handler is
    /// released. Once.
    func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        natsConnection_Close(connection.pointer)
        // Without this, nats_CloseAndWait below would wait its whole timeout for them.
        for subscription in lifelongSubscriptions.withLock({ $0 }) {
            natsSubscription_Destroy(subscription.pointer)
        }
        jsCtx_Destroy(jetStream.pointer)
        natsConnection_Destroy(connection.pointer)
        natsOptions_Destroy(options.pointer)
        // After this no callback runs, so the handlers and the event box can go.
        _ = nats_CloseAndWait(5000)
        handlers.withLock { $0.removeAll() }
        events.release()
    }

    /// Keeps `handler` for the connection's life, and gives the C client's context pointer to it.
    private func retain(_ handler: @escaping @Sendable (NATSMessage) -> Void) -> UnsafeMutableRawPointer {
        let box = MessageHandler(handler)
        handlers.withLock { $0.append(box) }
        // Unretained: `handlers` keeps the box until `close()`, which first waits for the C
        // client's threads to end, so no callback can see it gone.
        return Unmanaged.passUnretained(box).toOpaque()
    }

    /// Lifts the C client's default pending limits (65 536 messages): a watch of a large
    /// keyspace starts with a message per key, and dropping any would corrupt the index.
    private static func unlimit(_ subscription: OpaquePointer) throws(NATSError) {
        try check(
            natsSubscription_SetPendingLimits(subscription, -1, -1), "natsSubscription_SetPendingLimits")
    }

    private static func makeMessage(_ message: NATSMessage) throws(NATSError) -> OpaquePointer {
        var outgoing: OpaquePointer?
        let status = message.body.withUnsafeBytes { body in
            natsMsg_Create(
                &outgoing, message.subject, message.reply,
                body.baseAddress?.assumingMemoryBound(to: CChar.self),
                Int32(body.count))
        }
        try check(status, "natsMsg_Create")
        guard let outgoing else { throw .client(function: "natsMsg_Create", status: "none") }
        for (name, value) in message.headers {
            let status = natsMsgHeader_Set(outgoing, name, value)
            guard status == NATS_OK else {
                natsMsg_Destroy(outgoing)
                throw .client(function: "natsMsgHeader_Set", status: text(of: status))
            }
        }
        return outgoing
    }

    /// The message's subject, reply, header fields and body, copied.
    fileprivate static func copy(_ message: OpaquePointer) -> NATSMessage {
        let subject = natsMsg_GetSubject(message).map { String(cString: $0) } ?? ""
        let reply = natsMsg_GetReply(message).map { String(cString: $0) }
        var headers: [String: String] = [:]
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var count: Int32 = 0
        if natsMsgHeader_Keys(message, &keys, &count) == NATS_OK, let keys {
            for index in 0..<Int(count) {
                guard let key = keys[index] else { continue }
                var value: UnsafePointer<CChar>?
                if natsMsgHeader_Get(message, key, &value) == NATS_OK, let value {
                    headers[String(cString: key)] = String(cString: value)
                }
            }
            free(keys)
        }
        for name in ["Status", "Description"] where headers[name] == nil {
            var value: UnsafePointer<CChar>?
            if natsMsgHeader_Get(message, name, &value) == NATS_OK, let value {
                headers[name] = String(cString: value)
            }
        }
        let length = Int(natsMsg_GetDataLength(message))
        var body: [UInt8] = []
        if length > 0, let data = natsMsg_GetData(message) {
            body = data.withMemoryRebound(to: UInt8.self, capacity: length) {
                Array(UnsafeBufferPointer(start: $0, count: length))
            }
        }
        return NATSMessage(subject: subject, reply: reply, headers: headers, body: body)
    }

    private static func check(_ status: natsStatus, _ function: String) throws(NATSError) {
        guard status == NATS_OK else { throw .client(function: function, status: text(of: status)) }
    }

    fileprivate static func text(of status: natsStatus) -> String {
        natsStatus_GetText(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
    }

    private static func withCStrings<Result>(
        _ strings: [String], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) throws(NATSError) -> Result
    ) throws(NATSError) -> Result {
        let copies = strings.map { strdup($0) }
        defer {
            for copy in copies {
                free(copy)
            }
        }
        var pointers = copies.map { UnsafePointer($0) }
        return try pointers.withUnsafeMutableBufferPointer { (buffer) throws(NATSError) -> Result in
            guard let base = buffer.baseAddress else {
                throw .client(function: "natsOptions_SetServers", status: "no URL")
            }
            return try body(base)
        }
    }
}

/// A C client handle that only the connection touches, and only through the client's own
/// thread-safe functions: safe to share because the C client locks each handle itself.
private struct SendablePointer: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }
}

/// What a subscription calls, boxed for the C client's context pointer.
private final class MessageHandler: Sendable {
    let handler: @Sendable (NATSMessage) -> Void

    init(_ handler: @escaping @Sendable (NATSMessage) -> Void) {
        self.handler = handler
    }
}

/// What the connection's state changes call, boxed for the C client's context pointer.
private final class ConnectionEvents: Sendable {
    let onChange: @Sendable (Bool) -> Void

    init(onChange: @escaping @Sendable (Bool) -> Void) {
        self.onChange = onChange
    }
}

// The C client's callbacks. Each context pointer is retained by the connection until
// `close()`, which first waits for the client's threads to end, so it outlives every call.

private func onMessage(
    _ connection: OpaquePointer?, _ subscription: OpaquePointer?, _ message: OpaquePointer?,
    _ context: UnsafeMutableRawPointer?
) {
    guard let message else { return }
    defer { natsMsg_Destroy(message) }
    guard let context else { return }
    let copy = NATSConnection.copy(message)
    Unmanaged<MessageHandler>.fromOpaque(context).takeUnretainedValue().handler(copy)
}

private func onSubscriptionComplete(_ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<MessageHandler>.fromOpaque(context).release()
}

private func onConnected(_ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<ConnectionEvents>.fromOpaque(context).takeUnretainedValue().onChange(true)
}

private func onReconnected(_ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<ConnectionEvents>.fromOpaque(context).takeUnretainedValue().onChange(true)
}

private func onDisconnected(_ connection: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<ConnectionEvents>.fromOpaque(context).takeUnretainedValue().onChange(false)
}
