import Keyspace
import Logging
import MicroHTTPD
import Plumbing
import WebSocket

/// One `/v1/ws` connection: the RFC 6455 connection (`WebSocketConnection`) over the upgraded
/// socket, and the Keygate protocol over it — JSON requests answered with JSON replies,
/// waiting pops, and event subscriptions.
///
/// Requests are read and answered on the server's upgrade loop, like fast REST requests on
/// libmicrohttpd's threads; only a pop that must wait leaves it, answered later by a push or
/// its deadline on another thread. A reply that the client's send buffer cannot take closes
/// the socket with 1008: a client that does not read cannot make the server hold memory.
final class WebSocketSession<Store: KeyspaceStore>: UpgradeHandler {
    private struct State {
        var socket: UpgradedSocket?
        var connection: WebSocketConnection
        var consumers: [ObjectIdentifier: WebSocketConsumer] = [:]
        var subscriptions: [Int: WebSocketSubscription] = [:]
        var lastSubscription = 0
        var isClosed = false
    }

    private let gateway: Gateway<Store>
    private let settings: WebSocketSettings
    private let state: Mutex<State>

    /// A session of `gateway`, opened now.
    init(gateway: Gateway<Store>) {
        self.gateway = gateway
        settings = gateway.webSocketSettings
        state = Mutex(
            State(
                connection: WebSocketConnection(
                    maxMessageBytes: settings.maxMessageBytes, pingInterval: settings.pingInterval,
                    now: .now)))
    }

    // MARK: The socket's events, on the upgrade loop

    func opened(_ socket: UpgradedSocket) {
        state.withLock { $0.socket = socket }
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        gateway.metrics?.count(received: bytes.count, over: .webSocket)
        perform(state.withLock { $0.connection.receive(bytes, at: .now) })
    }

    func serve() {
        deliverEvents()
    }

    func tick(now: ContinuousClock.Instant) {
        perform(state.withLock { $0.connection.tick(at: now) })
    }

    func serverStopping() {
        startClosing(.goingAway, reason: "The server is shutting down.")
    }

    func closed() {
        let (consumers, subscriptions) = state.withLock { state in
            state.isClosed = true
            state.socket = nil
            defer {
                state.consumers = [:]
                state.subscriptions = [:]
            }
            return (Array(state.consumers.values), Array(state.subscriptions.values))
        }
        for consumer in consumers where consumer.claim() {
            // Unclaimed, so no message is on its way to it: it only has to stop waiting. One
            // that a push claimed first gets its message, fails to send it, and gives it back.
            consumer.cancelDeadline()
            gateway.store.cancelWait(consumer)
        }
        for subscription in subscriptions {
            gateway.store.unsubscribe(subscription)
        }
    }

    // MARK: Sending

    private func perform(_ actions: [WebSocketConnection.Action]) {
        for action in actions {
            switch action {
            case .deliver(let text):
                if let reply = answer(text) {
                    send([reply])
                }
            case .send(let frame):
                send(frame: frame)
            case .close(let frame):
                state.withLock { $0.socket }?.close(sending: frame)
            }
        }
    }

    /// Sends text messages, in one write; `false` when the socket refused them.
    @discardableResult
    private func send(_ messages: [String]) -> Bool {
        var frames: [UInt8] = []
        for message in messages {
            frames += FrameEncoder.text(message)
        }
        return send(frame: frames)
    }

    /// Sends frames; a socket whose buffer is full is closed with 1008. Any thread.
    @discardableResult
    private func send(frame: [UInt8]) -> Bool {
        guard let socket = state.withLock({ $0.socket }) else { return false }
        if socket.send(frame) {
            gateway.metrics?.count(sent: frame.count, over: .webSocket)
            return true
        }
        if socket.isOpen {
            startClosing(.policyViolation, reason: "The client does not read what it is sent.")
        }
        return false
    }

    /// Starts the closing handshake, unless already started. Any thread.
    private func startClosing(_ code: CloseCode, reason: String) {
        let (socket, action) = state.withLock { state in
            (state.socket, state.connection.startClosing(code, reason: reason))
        }
        if case .close(let frame)? = action {
            socket?.close(sending: frame)
        }
    }

    // MARK: Requests

    /// The reply to one text message; `nil` for a pop that waits, answered later.
    private func answer(_ text: String) -> String? {
        let message = JSONValue.parse(text)
        let id = WebSocketRequest.id(of: message)
        do {
            let request = try WebSocketRequest(message, maxWait: gateway.maxWait, keyLimit: gateway.keyLimit)
            let reply = try perform(request.operation, id: id)
            guard let reply, WebSocketRequest.isChange(request.operation) else { return reply }
            return acknowledged(reply, id: id)
        } catch {
            return WebSocketReply.failure(id, Problem(error, logger: gateway.logger))
        }
    }

    private func perform(_ operation: WebSocketRequest.Operation, id: JSONValue) throws -> String? {
        let store = gateway.store
        switch operation {
        case .get(let key):
            guard let stored = try store.value(forKey: key) else {
                throw HTTPError.notFound("No value at the key '\(key)'.")
            }
            var members = WebSocketReply.payload(stored.value)
            members["etag"] = .string(EntityTag.of(stored.version))
            return WebSocketReply.success(id, members)
        case .set(let key, let payload, let timeToLive, let condition):
            let outcome = try store.setValue(
                payload, forKey: key, timeToLive: timeToLive, condition: condition)
            let isCreated = if case .created = outcome { true } else { false }
            return WebSocketReply.success(
                id, ["created": .bool(isCreated), "etag": .string(EntityTag.of(outcome.version))])
        case .delete(let key, let condition):
            guard try store.removeValue(forKey: key, condition: condition) else {
                throw HTTPError.notFound("No value at the key '\(key)'.")
            }
            return WebSocketReply.success(id)
        case .timeToLive(let key):
            guard let timeToLive = store.timeToLive(forKey: key) else {
                throw HTTPError.notFound("No key '\(key)'.")
            }
            let seconds = TimeToLiveBody(timeToLive).seconds
            return WebSocketReply.success(id, ["ttl": seconds.map(JSONValue.number) ?? .null])
        case .expire(let key, let timeToLive):
            guard try store.setTimeToLive(timeToLive, forKey: key) else {
                throw HTTPError.notFound("No key '\(key)'.")
            }
            return WebSocketReply.success(id)
        case .push(let queue, let message):
            let length = try gateway.push(message, to: queue)
            return WebSocketReply.success(id, ["length": .integer(Int64(length))])
        case .pop(let queues, let wait):
            return try pop(from: queues, wait: wait, id: id)
        case .subscribe(let filter, let lastEventID):
            return try subscribe(filter, after: lastEventID, id: id)
        case .unsubscribe(let number):
            guard let subscription = state.withLock({ $0.subscriptions.removeValue(forKey: number) }) else {
                throw HTTPError.notFound("No subscription \(number) on this socket.")
            }
            store.unsubscribe(subscription)
            return WebSocketReply.success(id)
        }
    }

    // MARK: Pops

    /// Pops at once, or registers a consumer that a push or the deadline answers later.
    private func pop(from queues: [Key], wait: Duration, id: JSONValue) throws -> String? {
        let store = gateway.store
        if case .popped(let popped) = try store.pop(from: queues) {
            return acknowledged(WebSocketReply.message(id, popped.message, from: popped.queue), id: id) {
                [gateway] in
                gateway.giveBack(popped.message, to: popped.queue)
            }
        }
        guard wait > .zero else {
            return WebSocketReply.noMessage(id)
        }
        let consumer = WebSocketConsumer(requestID: id) { [weak self] consumer, message, queue in
            self?.deliver(message, from: queue, to: consumer) ?? false
        }
        try register(consumer)
        let outcome: PopOutcome
        do {
            outcome = try store.pop(
                from: queues, orWait: consumer, waitingAtMost: gateway.maxWaitingPerQueue)
        } catch {
            unregister(consumer)
            throw error
        }
        switch outcome {
        case .popped(let popped):
            unregister(consumer)
            return acknowledged(WebSocketReply.message(id, popped.message, from: popped.queue), id: id) {
                [gateway] in
                gateway.giveBack(popped.message, to: popped.queue)
            }
        case .waiting where consumer.isWaiting:
            consumer.armDeadline(after: wait) { [weak self, store] in
                consumer.cancelDeadline()
                guard consumer.claim() else { return }
                store.cancelWait(consumer)
                self?.unregister(consumer)
                self?.send([WebSocketReply.noMessage(id)])
            }
            return nil
        case .waiting:
            // The socket closed before the consumer was registered: it must not stay so.
            store.cancelWait(consumer)
            return nil
        case .empty, .gone:
            unregister(consumer)
            return WebSocketReply.noMessage(id)
        }
    }

    /// `reply` to a change, or `nil` when it is sent later: with `--fsync always`, once the
    /// log is synced (a problem if it cannot be). `undelivered` gives a popped message back
    /// when the reply cannot be sent.
    private func acknowledged(_ reply: String, id: JSONValue, undelivered: (@Sendable () -> Void)? = nil)
        -> String?
    {
        let store = gateway.store
        guard let ticket = store.pendingDurability() else { return reply }
        store.whenDurable(ticket) { [weak self] failure in
            guard let self else {
                undelivered?()
                return
            }
            if let failure {
                undelivered?()
                send([WebSocketReply.failure(id, Problem(failure))])
            } else if !send([reply]) {
                undelivered?()
            }
        }
        return nil
    }

    private func register(_ consumer: WebSocketConsumer) throws(HTTPError) {
        let limit = settings.maxWaitingPops
        let isRegistered = state.withLock { state in
            guard !state.isClosed, state.consumers.count < limit else { return false }
            state.consumers[ObjectIdentifier(consumer)] = consumer
            return true
        }
        guard isRegistered else {
            throw HTTPError(
                status: .tooManyRequests, detail: "A socket may have at most \(limit) pops waiting at once.")
        }
    }

    private func unregister(_ consumer: WebSocketConsumer) {
        _ = state.withLock { $0.consumers.removeValue(forKey: ObjectIdentifier(consumer)) }
    }

    /// A push claimed a waiting consumer: the message goes to the client, or back to the
    /// caller when the socket cannot take it. On the pushing thread.
    private func deliver(_ message: Payload, from queue: Key, to consumer: WebSocketConsumer) -> Bool {
        unregister(consumer)
        return send([WebSocketReply.message(consumer.requestID, message, from: queue)])
    }

    // MARK: Subscriptions

    private func subscribe(_ filter: EventFilter, after lastEventID: UInt64?, id: JSONValue) throws -> String
    {
        let store = gateway.store
        // An id from the future (another server, or before a restart) resumes from now.
        let newest = store.lastEventID
        let limit = settings.maxSubscriptions
        let subscription = state.withLock { state -> WebSocketSubscription? in
            guard !state.isClosed, state.subscriptions.count < limit else { return nil }
            state.lastSubscription += 1
            let subscription = WebSocketSubscription(
                number: state.lastSubscription, filter: filter, after: min(lastEventID ?? newest, newest)
            ) { [weak self] in
                self?.state.withLock { $0.socket }?.requestService()
            }
            state.subscriptions[subscription.number] = subscription
            return subscription
        }
        guard let subscription else {
            throw HTTPError(
                status: .tooManyRequests, detail: "A socket may hold at most \(limit) subscriptions at once.")
        }
        store.subscribe(subscription, filter: filter)
        // Served after this reply is sent: replayed events and any published meanwhile.
        state.withLock { $0.socket }?.requestService()
        return WebSocketReply.success(id, ["subscription": .integer(Int64(subscription.number))])
    }

    /// Sends what each flagged subscription has, a batch at a time; asks to be served again
    /// while any has more, so that one busy socket does not hold the loop.
    private func deliverEvents() {
        let subscriptions = state.withLock { Array($0.subscriptions.values) }
        let store = gateway.store
        let encoded = gateway.eventStreams.encoded
        var messages: [String] = []
        var hasMore = false
        for subscription in subscriptions {
            guard let read = subscription.read(from: store) else { continue }
            if let lost = read.lost {
                messages.append(WebSocketReply.gap(subscription: subscription.number, lost: lost))
                gateway.metrics?.countGap(lost)
            }
            for event in read.events {
                messages.append(
                    WebSocketReply.event(subscription: subscription.number, json: encoded.json(event)))
            }
            if read.mustEnd {
                _ = state.withLock { $0.subscriptions.removeValue(forKey: subscription.number) }
                store.unsubscribe(subscription)
                messages.append(
                    WebSocketReply.ended(
                        subscription: subscription.number,
                        reason:
                            "The subscription fell behind the event history; subscribe again with lastEventId."
                    ))
            }
            hasMore = hasMore || read.hasMore
        }
        guard !messages.isEmpty, send(messages) else { return }
        if hasMore {
            state.withLock { $0.socket }?.requestService()
        }
    }
}
