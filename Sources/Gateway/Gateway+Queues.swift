import Keyspace
import Logging
import MicroHTTPD

extension Gateway {
    /// The page size of a peek when none is given, and the largest one.
    static var peekSizes: (default: Int, max: Int) { (10, 1000) }

    /// `POST /v1/queues/{name}`: appends the body as one message; 201 `{"length": n}`.
    func pushMessage(_ request: HTTPRequest, to queue: Key) throws -> HTTPResponse {
        _ = try request.parameters(allowed: [])
        let contentType =
            try request.contentType() ?? Payload.defaultContentType
        let length = try push(Payload(bytes: request.body, contentType: contentType), to: queue)
        return .json(["length": length], status: .created)
    }

    /// Appends a message to a queue, or hands it to the oldest consumer waiting there; returns
    /// the queue's length afterwards.
    func push(_ message: Payload, to queue: Key) throws -> Int {
        switch try store.push(message, to: queue) {
        case .stored(let length): length
        case .handed(let receiver): hand(message, from: queue, to: receiver)
        }
    }

    /// `POST /v1/queues/{name}/pop` and `POST /v1/pop`: the oldest message of the first
    /// non-empty queue, or a 204 once `wait` has passed with none; parks meanwhile.
    func popMessage(_ request: HTTPRequest, from queues: [Key], wait waitText: String?) throws
        -> HTTPAnswer
    {
        let wait = try waitText.map { try parseWait($0) } ?? .zero
        if case .popped(let popped) = try store.pop(from: queues) {
            return acknowledged(MessageResponse.make(popped.message, from: popped.queue)) { [self] in
                giveBack(popped.message, to: popped.queue)
            }
        }
        guard wait > .zero else {
            return .respond(HTTPResponse(status: .noContent))
        }
        let consumer = ParkedConsumer { [self] message, queue in
            giveBack(message, to: queue)
        }
        return .park(
            Parking(
                timeout: wait,
                onPark: { [self] parked in
                    consumer.attach(parked)
                    waitOrPop(from: queues, for: consumer, parked: parked)
                },
                onTimeout: { [store] in
                    store.cancelWait(consumer)
                    return HTTPResponse(status: .noContent)
                },
                onAbandon: { [store] in
                    store.cancelWait(consumer)
                }))
    }

    /// `GET /v1/queues/{name}`: `{"name", "length", "consumers"}`; an absent queue has length 0.
    func describeQueue(_ request: HTTPRequest, _ queue: Key) throws -> HTTPResponse {
        _ = try request.parameters(allowed: [])
        let info = try store.queueInfo(queue)
        return .json(QueueStateBody(name: queue.text, length: info.length, consumers: info.consumers))
    }

    /// `GET /v1/queues/{name}/messages?limit=N`: the oldest messages, left in the queue.
    func peekMessages(_ request: HTTPRequest, _ queue: Key) throws -> HTTPResponse {
        let parameters = try request.parameters(allowed: ["limit"])
        let limit =
            try parameters["limit"].map {
                try Self.wholeNumber($0, parameter: "limit", in: 1...Self.peekSizes.max)
            } ?? Self.peekSizes.default
        let info = try store.queueInfo(queue)
        let messages = try store.peek(queue, limit: limit)
        return .json(
            QueueMessagesBody(
                name: queue.text, length: info.length, messages: messages.map(QueueMessagesBody.Message.init))
        )
    }

    /// `DELETE /v1/queues/{name}`: 204, or 404 when absent.
    func deleteQueue(_ request: HTTPRequest, _ queue: Key) throws -> HTTPResponse {
        _ = try request.parameters(allowed: [])
        guard try store.removeQueue(queue) else {
            throw HTTPError.notFound("No queue '\(queue)'.")
        }
        return HTTPResponse(status: .noContent)
    }

    /// A whole number in `range`, as a query parameter.
    static func wholeNumber(_ text: String, parameter: String, in range: ClosedRange<Int>) throws(HTTPError)
        -> Int
    {
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let number = Int(text), range.contains(number)
        else {
            throw .badRequest(
                "'\(parameter)' must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return number
    }

    private func parseWait(_ text: String) throws(HTTPError) -> Duration {
        let wait = try SecondsParser.parse(text, parameter: "wait")
        guard wait <= maxWait else {
            throw .badRequest("'wait' is at most \(Seconds.text(maxWait)) seconds on this server.")
        }
        return wait
    }

    /// Registers a parked consumer, unless a message arrived since the first look: then it
    /// gets that one at once.
    private func waitOrPop(from queues: [Key], for consumer: ParkedConsumer, parked: ParkedRequest) {
        do {
            switch try store.pop(from: queues, orWait: consumer, waitingAtMost: maxWaitingPerQueue) {
            case .popped(let popped):
                whenAcknowledged { [self] failure in
                    if let failure {
                        giveBack(popped.message, to: popped.queue)
                        parked.deliver(Problem(failure).response)
                    } else if !consumer.deliver(popped.message, from: popped.queue) {
                        giveBack(popped.message, to: popped.queue)
                    }
                }
            case .waiting where !parked.isWaiting:
                // Its deadline passed, or its client left, before it was registered.
                store.cancelWait(consumer)
            case .waiting, .empty, .gone:
                break
            }
        } catch {
            // One of the queues became a string since the first look.
            if parked.claim() {
                parked.deliver(Problem(error, logger: logger).response)
            }
        }
    }

    /// Delivers a message to a claimed consumer; if that one has left, to the next waiting one,
    /// or back to the head of its queue. Returns the queue's length afterwards.
    private func hand(_ message: Payload, from queue: Key, to receiver: any MessageReceiver) -> Int {
        guard !receiver.deliver(message, from: queue) else { return 0 }
        return giveBack(message, to: queue)
    }

    /// Puts back a message that a consumer could not take; returns the queue's length then.
    @discardableResult
    func giveBack(_ message: Payload, to queue: Key) -> Int {
        do {
            switch try store.giveBack(message, to: queue) {
            case .stored(let length): return length
            case .handed(let receiver): return hand(message, from: queue, to: receiver)
            }
        } catch {
            // Only possible if the queue's key was emptied and then written as a string.
            logger.error(
                "A message could not be put back and is dropped",
                metadata: ["queue": "\(queue)", "error": "\(error)"])
            return 0
        }
    }
}
