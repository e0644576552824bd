import Keyspace
import Logging
import MicroHTTPD
import Plumbing
import WebSocket

/// One `/v1/ws` connection: the RFC 6455 connection (`WebSocketConnection`) over the upgraded
/// socket, and the Keygate protocol over it — JSON requests answered with JSON replies,
/// waiting pops, and event subscriptions.
///
/// Requests become operations (`Operations`), as REST requests do; the session only parses
/// JSON and renders results. They are read and answered on the upgrade loop serving the socket,
/// like fast REST requests on libmicrohttpd's threads; only an operation that must wait (a pop, or
/// a change waiting to be durable) leaves it, answered later from another thread. A reply that
/// the client's send buffer cannot take closes the socket with 1008: a client that does not
/// read cannot make the server hold memory.
final class WebSocketSession<Store: KeyspaceStore>: UpgradeHandler {
    private let gateway: Gateway<Store>
    private let caller: Caller
    private let settings: WebSocketSettings
    private let state: Mutex<SessionState>

    /// A session of `gateway`, opened now, whose requests are `caller`'s; it closes with 1008 if
    /// `caller`'s token is revoked.
    init(gateway: Gateway<Store>, caller: Caller) {
        self.gateway = gateway
        self.caller = caller
        settings = gateway.configuration.webSocket
        state = Mutex(
            SessionState(
                connection: WebSocketConnection(
                    maxMessageBytes: settings.maxMessageBytes, pingInterval: settings.pingInterval,
                    now: .now)))
    }

    // MARK: The socket's events, on its upgrade loop

    func opened(_ socket: UpgradedSocket) {
        let watch = gateway.accessControl?.watch(caller) { [weak self] in
            self?.startClosing(.policyViolation, reason: "The token this socket was opened with was revoked.")
        }
        state.withLock { state in
            state.socket = socket
            state.watch = watch
        }
    }

    func received(_ bytes: Span<UInt8>) {
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
        let (waiting, subscriptions, watch) = state.withLock { state in
            state.isClosed = true
            state.socket = nil
            defer {
                state.waiting = [:]
                state.subscriptions = [:]
            }
            return (Array(state.waiting.values), Array(state.subscriptions.values), state.watch.take())
        }
        if let watch {
            gateway.accessControl?.unwatch(watch)
        }
        for operation in waiting {
            // One whose answer is on its way fails to send it and gives back what it holds.
            operation.cancel()
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
            case .answerClose(let frame):
                state.withLock { $0.socket }?.close(sending: frame, isPeerFinished: true)
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

    /// The reply to one text message; `nil` for an operation answered later.
    private func answer(_ text: String) -> String? {
        let message = JSONValue.parse(text)
        let id = WebSocketRequest.id(of: message)
        do {
            let request = try WebSocketRequest(message, limits: gateway.operations.limits)
            return try perform(request.operation, id: id)
        } catch {
            return WebSocketReply.failure(id, Problem(error, logger: gateway.logger))
        }
    }

    /// Performs one request's operation; its reply, or `nil` when it comes later.
    private func perform(_ operation: WebSocketRequest.Operation, id: JSONValue) throws -> String? {
        let operations = gateway.operations
        switch operation {
        case .get(let read):
            return try reply(to: id, operations.perform(read, by: caller)) { stored in
                var members = WebSocketReply.payload(stored.value)
                members["etag"] = .string(EntityTag.of(stored.version))
                return WebSocketReply.success(id, members)
            }
        case .set(let write):
            return try reply(to: id, operations.perform(write, by: caller)) { outcome in
                let isCreated = if case .created = outcome { true } else { false }
                return WebSocketReply.success(
                    id, ["created": .bool(isCreated), "etag": .string(EntityTag.of(outcome.version))])
            }
        case .delete(let delete):
            return try reply(to: id, operations.perform(delete, by: caller)) { WebSocketReply.success(id) }
        case .timeToLive(let read):
            return try reply(to: id, operations.perform(read, by: caller)) { timeToLive in
                let seconds = TimeToLiveBody(timeToLive).seconds
                return WebSocketReply.success(id, ["ttl": seconds.map(JSONValue.number) ?? .null])
            }
        case .expire(let update):
            return try reply(to: id, operations.perform(update, by: caller)) { WebSocketReply.success(id) }
        case .push(let push):
            return try reply(to: id, operations.perform(push, by: caller)) { length in
                WebSocketReply.success(id, ["length": .integer(Int64(length))])
            }
        case .pop(let pop):
            if pop.wait > .zero {
                try checkWaitingPops()
            }
            return try reply(to: id, operations.perform(pop, by: caller), isPop: true) { popped in
                popped.map { WebSocketReply.message(id, $0.message, from: $0.queue) }
                    ?? WebSocketReply.noMessage(id)
            }
        case .move(let move):
            if move.wait > .zero {
                try checkWaitingPops()
            }
            return try reply(to: id, operations.perform(move, by: caller), isPop: true) { popped in
                popped.map { WebSocketReply.message(id, $0.message, from: $0.queue) }
                    ?? WebSocketReply.noMessage(id)
            }
        case .receive(let receive):
            if receive.wait > .zero {
                try checkWaitingPops()
            }
            return try reply(to: id, operations.perform(receive, by: caller), isPop: true) { messages in
                WebSocketReply.received(id, messages, from: receive.queue)
            }
        case .acknowledge(let acknowledge, let isBatch):
            return try reply(to: id, operations.perform(acknowledge, by: caller)) { statuses in
                guard !isBatch else {
                    return WebSocketReply.success(
                        id, QueueJSON.acknowledged(acknowledge.receipts, statuses: statuses))
                }
                switch statuses.first {
                case .acknowledged?:
                    return WebSocketReply.success(id)
                case .expired?:
                    return WebSocketReply.failure(
                        id, Problem(KeyspaceError.leaseExpired(queue: acknowledge.queue)))
                case .unknown?, nil:
                    return WebSocketReply.failure(
                        id, Problem(KeyspaceError.unknownReceipt(queue: acknowledge.queue)))
                }
            }
        case .extend(let change):
            return try reply(to: id, operations.perform(change, by: caller)) { visibleUntil in
                WebSocketReply.success(id, ["visibleUntil": .integer(visibleUntil.milliseconds)])
            }
        case .subscribe(let subscribe):
            return try self.subscribe(subscribe, id: id)
        case .unsubscribe(let number):
            guard let subscription = state.withLock({ $0.subscriptions.removeValue(forKey: number) }) else {
                throw GatewayError.notFound("No subscription \(number) on this socket.")
            }
            gateway.store.unsubscribe(subscription)
            return WebSocketReply.success(id)
        }
    }

    /// The reply to request `id` from its operation's completion: `render`ed now, or sent once
    /// the output comes (`nil` now). An operation answered later is cancelled if the socket
    /// closes first.
    private func reply<Output>(
        to id: JSONValue, _ completion: Completion<Output>, isPop: Bool = false,
        render: @escaping @Sendable (Output) -> String
    ) -> String? {
        guard case .later(let pending) = completion else {
            guard case .now(let output) = completion else {
                preconditionFailure("a completion is now or later")
            }
            return render(output)
        }
        let key = ObjectIdentifier(pending)
        let isTracked = state.withLock { state in
            guard !state.isClosed else { return false }
            state.waiting[key] = WaitingOperation(cancel: { pending.cancel() }, isPop: isPop)
            return true
        }
        guard isTracked else {
            pending.cancel()
            return nil
        }
        let logger = gateway.logger
        pending.start { [weak self] result, _ in
            guard let self else { return false }
            _ = state.withLock { $0.waiting.removeValue(forKey: key) }
            let text =
                switch result {
                case .success(let output): render(output)
                case .failure(let error): WebSocketReply.failure(id, Problem(error, logger: logger))
                }
            return send([text])
        }
        return nil
    }

    /// Refuses a pop that would wait when the socket has as many waiting as it may.
    private func checkWaitingPops() throws(GatewayError) {
        let limit = settings.maxWaitingPops
        let count = state.withLock { $0.waiting.values.count(where: \.isPop) }
        guard count < limit else {
            throw .tooManyOnSocket("A socket may have at most \(limit) pops waiting at once.")
        }
    }

    // MARK: Subscriptions

    private func subscribe(_ subscribe: Events.Subscribe, id: JSONValue) throws -> String {
        let start = try gateway.operations.performAtOnce(subscribe, by: caller)
        let limit = settings.maxSubscriptions
        let subscription = state.withLock { state -> WebSocketSubscription? in
            guard !state.isClosed, state.subscriptions.count < limit else { return nil }
            state.lastSubscription += 1
            let subscription = WebSocketSubscription(
                number: state.lastSubscription, filter: start.filter, after: start.cursor
            ) { [weak self] in
                self?.state.withLock { $0.socket }?.requestService()
            }
            state.subscriptions[subscription.number] = subscription
            return subscription
        }
        guard let subscription else {
            throw GatewayError.tooManyOnSocket("A socket may hold at most \(limit) subscriptions at once.")
        }
        gateway.store.subscribe(subscription, filter: start.filter)
        // Served after this reply is sent: replayed events and any published meanwhile.
        state.withLock { $0.socket }?.requestService()
        return WebSocketReply.success(id, ["subscription": .integer(Int64(subscription.number))])
    }

    /// Sends what each flagged subscription has, a batch at a time, every frame in one write;
    /// asks to be served again while any has more, so that a subscriber that is behind takes
    /// its turn with the other sockets of the loop instead of holding it.
    private func deliverEvents() {
        let subscriptions = state.withLock { Array($0.subscriptions.values) }
        let store = gateway.store
        var frames: [UInt8] = []
        var hasMore = false
        // Let go of once the frames are sent, after this call.
        var rounds: [NotificationRound] = []
        defer { rounds.removeAll() }
        for subscription in subscriptions {
            guard let (read, round) = subscription.read(from: store) else { continue }
            if let round {
                rounds.append(round)
            }
            if let lost = read.lost {
                frames += FrameEncoder.text(WebSocketReply.gap(subscription: subscription.number, lost: lost))
                gateway.metrics?.countGap(lost)
            }
            gateway.fanOut.encoded.appendWebSocketEvents(
                read.events, subscription: subscription.number, to: &frames)
            if read.mustEnd {
                _ = state.withLock { $0.subscriptions.removeValue(forKey: subscription.number) }
                store.unsubscribe(subscription)
                frames += FrameEncoder.text(
                    WebSocketReply.ended(
                        subscription: subscription.number,
                        reason:
                            "The subscription fell behind the event history; subscribe again with lastEventId."
                    ))
            }
            hasMore = hasMore || read.hasMore
        }
        guard !frames.isEmpty, send(frame: frames) else { return }
        if hasMore {
            state.withLock { $0.socket }?.requestService()
        }
    }
}

/// What a session keeps, under its lock. Not nested in the generic session, so that its type
/// needs no metadata looked up at run time on every request.
private struct SessionState {
    var socket: UpgradedSocket?
    var connection: WebSocketConnection
    var waiting: [ObjectIdentifier: WaitingOperation] = [:]
    var subscriptions: [Int: WebSocketSubscription] = [:]
    var lastSubscription = 0
    var isClosed = false
    /// What closes the socket if its token is revoked.
    var watch: AccessControl.Watch?
}

/// An operation whose answer comes later, as a session keeps it until then.
private struct WaitingOperation {
    /// Cancels it: the socket closed first.
    let cancel: @Sendable () -> Void
    /// Whether it is a pop waiting for a message, which the socket's limit counts.
    let isPop: Bool
}
