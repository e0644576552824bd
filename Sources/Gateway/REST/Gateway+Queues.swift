import Keyspace
import MicroHTTPD

extension Gateway {
    /// `/v1/queues/{name}`: `POST` appends the body as one message (201 `{"length": n}`), `GET`
    /// and `HEAD` describe the queue (`{"name", "length", "consumers"}`), `DELETE` deletes it.
    func queue(_ request: HTTPRequest, name queue: Key, by caller: Caller) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        switch request.method {
        case .post:
            let message = Payload(
                bytes: request.body, contentType: try request.contentType() ?? Payload.defaultContentType)
            return try answer(operations.perform(Queues.Push(queue: queue, message: message), by: caller)) {
                length in
                .json(["length": length], status: .created)
            }
        case .delete:
            return try answer(operations.perform(Queues.Delete(queue: queue), by: caller)) {
                HTTPResponse(status: .noContent)
            }
        default:
            return try answer(operations.perform(Queues.Describe(queue: queue), by: caller), with: queue.text)
            {
                info, name in
                .json(QueueStateBody(name: name, length: info.length, consumers: info.consumers))
            }
        }
    }

    /// `POST /v1/pop?queues=a,b&wait=SECONDS`: a pop from the first non-empty of several queues.
    func popFromQueueList(_ request: HTTPRequest, by caller: Caller) throws -> HTTPAnswer {
        let parameters = try request.parameters(allowed: ["queues", "wait"])
        guard let names = parameters["queues"] else {
            throw GatewayError.badRequest("'queues' is required: a comma-separated list of queue names.")
        }
        return try pop(
            request, from: QueueList.parse(names, keyLimit: operations.limits.keys),
            allowing: ["queues", "wait"], by: caller)
    }

    /// A pop of `queues`: the oldest message of the first non-empty one, or a 204 once `wait`
    /// has passed with none; parks meanwhile. `allowed` are the query parameters the endpoint
    /// takes.
    func pop(_ request: HTTPRequest, from queues: [Key], allowing allowed: Set<String>, by caller: Caller)
        throws
        -> HTTPAnswer
    {
        let parameters = try request.parameters(allowed: allowed)
        let wait =
            try parameters["wait"].map { try SecondsParser.wait($0, atMost: operations.limits.maxWait) }
            ?? .zero
        return try answer(operations.perform(Queues.Pop(queues: queues, wait: wait), by: caller)) {
            .popped($0)
        }
    }

    /// `GET /v1/queues/{name}/messages?limit=N`: the oldest messages, left in the queue.
    func peekMessages(_ request: HTTPRequest, queue: Key, by caller: Caller) throws -> HTTPAnswer {
        let parameters = try request.parameters(allowed: ["limit"])
        let limit =
            try parameters["limit"].map {
                try WholeNumber.parse($0, parameter: "limit", in: 1...Queues.peekSizes.max)
            } ?? Queues.peekSizes.default
        return try answer(
            operations.perform(Queues.Peek(queue: queue, limit: limit), by: caller), with: queue.text
        ) {
            found, name in
            .json(
                QueueMessagesBody(
                    name: name, length: found.info.length,
                    messages: found.messages.map(QueueMessagesBody.Message.init)))
        }
    }
}
