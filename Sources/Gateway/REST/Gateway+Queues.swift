import Keyspace
import MicroHTTPD

extension Gateway {
    /// `/v1/queues/{name}`: `POST` appends the body as one message (201 `{"length": n}`), after
    /// `?delay=SECONDS` if given; `GET` and `HEAD` describe the queue; `DELETE` deletes it.
    func queue(_ request: HTTPRequest, name queue: Key, by caller: Caller) throws -> HTTPAnswer {
        switch request.method {
        case .post:
            let parameters = try request.parameters(allowed: ["delay"])
            let delay = try parameters["delay"].map(LeaseInput.delay)
            let message = Payload(
                bytes: request.body, contentType: try request.contentType() ?? Payload.defaultContentType)
            let push = Queues.Push(queue: queue, message: message, delay: delay)
            return try answer(operations.perform(push, by: caller)) { length in
                .json(["length": length], status: .created)
            }
        case .delete:
            _ = try request.parameters(allowed: [])
            return try answer(operations.perform(Queues.Delete(queue: queue), by: caller)) {
                HTTPResponse(status: .noContent)
            }
        default:
            _ = try request.parameters(allowed: [])
            return try answer(operations.perform(Queues.Describe(queue: queue), by: caller), with: queue.text)
            {
                info, name in
                .json(
                    QueueStateBody(
                        name: name, length: info.length, visible: info.visible, inFlight: info.inFlight,
                        delayed: info.delayed, consumers: info.consumers))
            }
        }
    }

    /// `POST /v1/pop?queues=a,b&wait=SECONDS`: a pop from the first non-empty of several queues.
    func popFromQueueList(_ request: HTTPRequest, by caller: Caller) throws -> HTTPAnswer {
        let parameters = try request.parameters(allowed: ["queues", "wait"])
        guard let names = parameters["queues"] else {
            throw GatewayError.badRequest("'queues' is required: a comma-separated list of queue names.")
        }
        let queues = try QueueList.parse(names, keyLimit: operations.limits.keys)
        return try answer(operations.perform(Queues.Pop(queues: queues, wait: wait(parameters)), by: caller))
        {
            .popped($0)
        }
    }

    /// `POST /v1/queues/{name}/pop?wait=SECONDS&to=DESTINATION`: the oldest visible message, or a
    /// 204 once `wait` has passed with none; parks meanwhile. With `to`, the message is also
    /// appended to that queue, in one step.
    func pop(_ request: HTTPRequest, from queue: Key, by caller: Caller) throws -> HTTPAnswer {
        let parameters = try request.parameters(allowed: ["wait", "to"])
        let wait = try wait(parameters)
        guard let name = parameters["to"] else {
            return try answer(operations.perform(Queues.Pop(queues: [queue], wait: wait), by: caller)) {
                .popped($0)
            }
        }
        let destination = try operations.limits.keys.key(name)
        guard destination != queue else {
            throw GatewayError.badRequest("'to' names the queue popped from; a move needs another queue.")
        }
        let move = Queues.Move(source: queue, destination: destination, wait: wait)
        return try answer(operations.perform(move, by: caller)) { .popped($0) }
    }

    /// `POST /v1/queues/{name}/receive?wait=SECONDS&visibility=SECONDS&max=N`: up to `max`
    /// messages on a lease, 200 `{"messages": [...]}`, or a 204 once `wait` has passed with none.
    func receive(_ request: HTTPRequest, from queue: Key, by caller: Caller) throws -> HTTPAnswer {
        let parameters = try request.parameters(allowed: ["wait", "visibility", "max"])
        let visibility = try parameters["visibility"].map(LeaseInput.visibility)
        let limits = QueueLimits.receiveLimits
        let limit = try parameters["max"].map { try WholeNumber.parse($0, parameter: "max", in: limits) } ?? 1
        let receive = Leases.Receive(
            queue: queue, visibility: visibility, limit: limit, wait: try wait(parameters))
        return try answer(operations.perform(receive, by: caller)) { messages in
            messages.isEmpty
                ? HTTPResponse(status: .noContent)
                : .json(bytes: QueueJSON.received(messages))
        }
    }

    /// `/v1/queues/{name}/leases/{receipt}`: `DELETE` acknowledges the message (204); `PUT`
    /// `{"visibility": SECONDS}` ends its lease that long from now, or now with 0 (200
    /// `{"visibleUntil": ms}`). A lease that has ended is a 410, an unknown receipt a 404.
    func lease(_ request: HTTPRequest, queue: Key, receipt: String, by caller: Caller) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        guard request.method == .put else {
            let acknowledge = Leases.Acknowledge(queue: queue, receipts: [receipt])
            return try answer(operations.perform(acknowledge, by: caller), with: queue) { statuses, queue in
                switch statuses.first {
                case .acknowledged?: return HTTPResponse(status: .noContent)
                case .expired?: throw KeyspaceError.leaseExpired(queue: queue)
                case .unknown?, nil: throw KeyspaceError.unknownReceipt(queue: queue)
                }
            }
        }
        let body = try jsonObject(request, example: #"{"visibility": 30}"#)
        try refuseUnknownMembers(of: body, known: ["visibility"])
        let visibility = try LeaseInput.visibility(body["visibility"], allowsZero: true)
        let change = Leases.ChangeVisibility(queue: queue, receipt: receipt, visibility: visibility)
        return try answer(operations.perform(change, by: caller)) { visibleUntil in
            .json(.object(["visibleUntil": .integer(visibleUntil.milliseconds)]))
        }
    }

    /// `POST /v1/queues/{name}/ack` `{"receipts": [...]}`: acknowledges each receipt's message
    /// whose lease is current; 200 `{"acked": [...], "expired": [...], "unknown": [...]}`.
    func acknowledge(_ request: HTTPRequest, queue: Key, by caller: Caller) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        let body = try jsonObject(request, example: #"{"receipts": ["…"]}"#)
        try refuseUnknownMembers(of: body, known: ["receipts"])
        let receipts = try LeaseInput.receipts(body["receipts"])
        return try answer(
            operations.perform(Leases.Acknowledge(queue: queue, receipts: receipts), by: caller)
        ) {
            statuses in
            var writer = JSONWriter()
            QueueJSON.acknowledged(receipts, statuses: statuses).writeObject(to: &writer)
            return .json(bytes: writer.bytes)
        }
    }

    /// `/v1/queues/{name}/policy`: `GET`/`HEAD` the queue's policy, `PUT` sets it (200 with the
    /// policy), `DELETE` resets it to the standard one (204).
    func policy(_ request: HTTPRequest, queue: Key, by caller: Caller) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        switch request.method {
        case .put:
            let body = JSONValue.parse(request.body)
            let policy = try LeaseInput.policy(body, keyLimit: operations.limits.keys)
            return try answer(operations.perform(Policies.Update(queue: queue, policy: policy), by: caller)) {
                .json(QueueJSON.policy($0))
            }
        case .delete:
            return try answer(operations.perform(Policies.Update(queue: queue, policy: nil), by: caller)) {
                _ in
                HTTPResponse(status: .noContent)
            }
        default:
            return try answer(operations.perform(Policies.Read(queue: queue), by: caller)) {
                .json(QueueJSON.policy($0))
            }
        }
    }

    /// `GET /v1/queues/{name}/messages?limit=N`: the oldest visible messages, left in the queue.
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
            var writer = JSONWriter()
            writer.append(raw: #"{"name":"#)
            writer.appendString(name)
            writer.append(raw: #","length":"#)
            writer.appendInteger(Int64(found.info.length))
            writer.append(raw: #","messages":"#)
            QueueJSON.appendQueued(found.messages, to: &writer)
            writer.append(raw: "}")
            return .json(bytes: writer.bytes)
        }
    }

    /// The `wait` of a pop or a receive: zero when absent, at most `--max-wait`.
    private func wait(_ parameters: [String: String]) throws -> Duration {
        try parameters["wait"].map { try SecondsParser.wait($0, atMost: operations.limits.maxWait) } ?? .zero
    }

    /// The request's body as the members of a JSON object.
    private func jsonObject(_ request: HTTPRequest, example: String) throws(GatewayError) -> [String:
        JSONValue]
    {
        guard case .object(let members)? = JSONValue.parse(request.body) else {
            throw .badRequest("The body must be a JSON object such as \(example).")
        }
        return members
    }

    /// Refuses a body with a member other than `known`.
    private func refuseUnknownMembers(of members: [String: JSONValue], known: Set<String>)
        throws(GatewayError)
    {
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw .badRequest(
                "Unknown member '\(unknown)'; known: \(known.sorted().joined(separator: ", ")).")
        }
    }
}
