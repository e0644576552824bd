import FoundationEssentials
import Keyspace

/// One request of the WebSocket protocol, read and checked: the operation with its arguments,
/// and the client's `id` to answer with.
///
/// Strict like the REST API's query parameters: an unknown member is refused, not ignored, so
/// that a typo such as `"tll"` cannot silently store a key that never expires.
struct WebSocketRequest {
    /// What the client asks for: an operation of the keyspace, or one of the session's own.
    enum Operation {
        /// `get`: a value.
        case get(Cache.Read)
        /// `set`: write a value.
        case set(Cache.Write)
        /// `del`: delete a value.
        case delete(Cache.Delete)
        /// `ttl`: a key's time to live.
        case timeToLive(TTL.Read)
        /// `expire`: set or remove a key's time to live.
        case expire(TTL.Update)
        /// `push`: append a message to a queue.
        case push(Queues.Push)
        /// `pop`: take a message, maybe waiting for one.
        case pop(Queues.Pop)
        /// `pop` with `to`: move a message to another queue, maybe waiting for one.
        case move(Queues.Move)
        /// `receive`: messages on a lease, maybe waiting for one.
        case receive(Leases.Receive)
        /// `ack`: acknowledge leased messages, by one `receipt` or several `receipts`.
        case acknowledge(Leases.Acknowledge, isBatch: Bool)
        /// `extend`: end a lease some time from now, or now (a release).
        case extend(Leases.ChangeVisibility)
        /// `subscribe`: events on this socket.
        case subscribe(Events.Subscribe)
        /// `unsubscribe`: no more events of a subscription, by its number.
        case unsubscribe(Int)
    }

    /// The operation names, in the order the documentation lists them.
    static let operationNames = [
        "get", "set", "del", "ttl", "expire", "push", "pop", "receive", "ack", "extend", "subscribe",
        "unsubscribe",
    ]

    /// The client's id for the request, any JSON value; `null` when it gave none.
    let id: JSONValue
    /// The operation.
    let operation: Operation

    /// The id to answer a message with, even one that is not a valid request.
    static func id(of message: JSONValue?) -> JSONValue {
        guard case .object(let members) = message else { return .null }
        return members["id"] ?? .null
    }

    /// Reads a request within `limits`; throws a `GatewayError` or `KeyspaceError` saying what
    /// is wrong with it.
    init(_ message: JSONValue?, limits: OperationLimits) throws {
        guard case .object(let members) = message else {
            throw GatewayError.badRequest(
                #"A request must be a JSON object such as {"id": 1, "op": "get", "key": "k"}."#)
        }
        var reader = MemberReader(members, keyLimit: limits.keys)
        id = reader.take("id") ?? .null
        guard let name = try reader.string("op") else {
            throw GatewayError.badRequest(
                "'op' is required: one of \(Self.operationNames.joined(separator: ", ")).")
        }
        switch name {
        case "get":
            operation = .get(Cache.Read(key: try reader.key("key")))
        case "set":
            let key = try reader.key("key")
            let payload = try reader.payload()
            let timeToLive = try reader.seconds("ttl").map { try SecondsParser.duration(seconds: $0) }
            operation = .set(
                Cache.Write(
                    key: key, value: payload, timeToLive: timeToLive, condition: try reader.writeCondition()))
        case "del":
            let key = try reader.key("key")
            operation = .delete(Cache.Delete(key: key, condition: try reader.writeCondition()))
        case "ttl":
            operation = .timeToLive(TTL.Read(key: try reader.key("key")))
        case "expire":
            let key = try reader.key("key")
            guard reader.contains("ttl") else {
                throw GatewayError.badRequest(
                    "'ttl' is required: seconds, or null to remove the time to live.")
            }
            let timeToLive = try reader.seconds("ttl").map { try SecondsParser.duration(seconds: $0) }
            operation = .expire(TTL.Update(key: key, timeToLive: timeToLive))
        case "push":
            let queue = try reader.key("queue")
            let message = try reader.payload()
            let delay = try reader.seconds("delay").map { seconds throws(GatewayError) in
                guard seconds >= 0, seconds <= Seconds.of(QueueLimits.maximumDelay) else {
                    throw .badRequest("'delay' is 0 to \(Seconds.text(QueueLimits.maximumDelay)) seconds.")
                }
                return try SecondsParser.duration(seconds: seconds, parameter: "delay")
            }
            operation = .push(Queues.Push(queue: queue, message: message, delay: delay))
        case "pop":
            let queues = try reader.queues()
            let wait = try reader.wait(atMost: limits.maxWait)
            if let name = try reader.string("to") {
                let destination = try limits.keys.key(name)
                guard queues.count == 1, let source = queues.first, source != destination else {
                    throw GatewayError.badRequest(
                        "A pop with 'to' takes one 'queue', other than 'to', and moves its message there.")
                }
                operation = .move(Queues.Move(source: source, destination: destination, wait: wait))
            } else {
                operation = .pop(Queues.Pop(queues: queues, wait: wait))
            }
        case "receive":
            let queue = try reader.key("queue")
            let wait = try reader.wait(atMost: limits.maxWait)
            let visibility =
                try reader.contains("visibility")
                ? LeaseInput.visibility(reader.take("visibility"), allowsZero: false) : nil
            let limit = try reader.count("max", in: QueueLimits.receiveLimits) ?? 1
            operation = .receive(
                Leases.Receive(queue: queue, visibility: visibility, limit: limit, wait: wait))
        case "ack":
            let queue = try reader.key("queue")
            switch (reader.contains("receipt"), reader.contains("receipts")) {
            case (true, false):
                guard let receipt = try reader.string("receipt") else {
                    throw GatewayError.badRequest("'receipt' must be a receipt, a string.")
                }
                operation = .acknowledge(
                    Leases.Acknowledge(queue: queue, receipts: [receipt]), isBatch: false)
            case (false, true):
                let receipts = try LeaseInput.receipts(reader.take("receipts"))
                operation = .acknowledge(Leases.Acknowledge(queue: queue, receipts: receipts), isBatch: true)
            default:
                throw GatewayError.badRequest(
                    "Give 'receipt' (one receipt) or 'receipts' (an array), not both.")
            }
        case "extend":
            let queue = try reader.key("queue")
            guard let receipt = try reader.string("receipt") else {
                throw GatewayError.badRequest("'receipt' is required: the receipt of the lease.")
            }
            let visibility = try LeaseInput.visibility(reader.take("visibility"), allowsZero: true)
            operation = .extend(
                Leases.ChangeVisibility(queue: queue, receipt: receipt, visibility: visibility))
        case "subscribe":
            let filter = EventFilter(patterns: try reader.patterns(), types: try reader.eventTypes())
            operation = .subscribe(
                Events.Subscribe(filter: filter, lastEventID: try reader.eventID("lastEventId")))
        case "unsubscribe":
            guard case .integer(let number)? = reader.take("subscription"), number > 0 else {
                throw GatewayError.badRequest("'subscription' is required: the number 'subscribe' answered.")
            }
            operation = .unsubscribe(Int(clamping: number))
        default:
            throw GatewayError.badRequest(
                "Unknown op '\(name)'; known: \(Self.operationNames.joined(separator: ", ")).")
        }
        try reader.refuseUnread(op: name)
    }
}

/// Reads the members of a request object one by one, remembering which were read.
private struct MemberReader {
    private var members: [String: JSONValue]
    private let keyLimit: KeyLimit

    init(_ members: [String: JSONValue], keyLimit: KeyLimit) {
        self.members = members
        self.keyLimit = keyLimit
    }

    func contains(_ name: String) -> Bool {
        members[name] != nil
    }

    /// The member, now read.
    mutating func take(_ name: String) -> JSONValue? {
        members.removeValue(forKey: name)
    }

    /// A string member; `nil` when absent or `null`.
    mutating func string(_ name: String) throws(GatewayError) -> String? {
        switch take(name) {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw .badRequest("'\(name)' must be a string.")
        }
    }

    /// A Boolean member; `false` when absent.
    mutating func flag(_ name: String) throws(GatewayError) -> Bool {
        switch take(name) {
        case nil, .null?: return false
        case .bool(let value)?: return value
        default: throw .badRequest("'\(name)' must be true or false.")
        }
    }

    /// A number of seconds; `nil` when absent or `null`.
    mutating func seconds(_ name: String) throws(GatewayError) -> Double? {
        switch take(name) {
        case nil, .null?: return nil
        case .integer(let value)?: return Double(value)
        case .number(let value)?: return value
        default: throw .badRequest("'\(name)' must be a number of seconds, such as 30 or 0.25.")
        }
    }

    /// The `wait` of a pop or receive: seconds, at most `maxWait`; zero when absent.
    mutating func wait(atMost maxWait: Duration) throws(GatewayError) -> Duration {
        try seconds("wait").map { seconds throws(GatewayError) in
            try SecondsParser.checkWait(
                SecondsParser.duration(seconds: seconds, parameter: "wait"), atMost: maxWait)
        } ?? .zero
    }

    /// A whole number in `range`; `nil` when absent or `null`.
    mutating func count(_ name: String, in range: ClosedRange<Int>) throws(GatewayError) -> Int? {
        switch take(name) {
        case nil, .null?: return nil
        case .integer(let value)? where range.contains(Int(clamping: value)): return Int(value)
        default:
            throw .badRequest(
                "'\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
    }

    /// A required key.
    mutating func key(_ name: String) throws -> Key {
        guard let text = try string(name) else {
            throw GatewayError.badRequest(
                "'\(name)' is required: a key of 1 to \(keyLimit.maxBytes) bytes of UTF-8.")
        }
        return try keyLimit.key(text)
    }

    /// The value of a `set` or `push`: `value` as text, or `valueBase64` as bytes, with
    /// `contentType` (by default text/plain for text, application/octet-stream for bytes).
    mutating func payload() throws(GatewayError) -> Payload {
        let text = try string("value")
        let base64 = try string("valueBase64")
        let contentType = try string("contentType").map(MediaType.validate)
        switch (text, base64) {
        case (let text?, nil):
            return Payload(bytes: Array(text.utf8), contentType: contentType ?? "text/plain; charset=utf-8")
        case (nil, let base64?):
            guard let bytes = Data(base64Encoded: base64) else {
                throw .badRequest("'valueBase64' is not base64.")
            }
            return Payload(bytes: Array(bytes), contentType: contentType ?? Payload.defaultContentType)
        default:
            throw .badRequest("Give exactly one of 'value' (text) and 'valueBase64' (bytes in base64).")
        }
    }

    /// The condition of a `set` or `del`: `ifAbsent`, `ifPresent`, or `ifMatch` (an entity tag).
    mutating func writeCondition() throws(GatewayError) -> WriteCondition {
        let ifAbsent = try flag("ifAbsent")
        let ifPresent = try flag("ifPresent")
        let ifMatch = try string("ifMatch")
        switch (ifAbsent, ifPresent, ifMatch) {
        case (false, false, nil): return .always
        case (true, false, nil): return .ifAbsent
        case (false, true, nil): return .ifPresent
        case (false, false, let tag?):
            return WriteCondition(ifMatch: try EntityTag.versions(in: [tag], weakMatches: false))
        default:
            throw .badRequest("Give at most one of 'ifAbsent', 'ifPresent' and 'ifMatch'.")
        }
    }

    /// The queues of a `pop`: `queue`, or `queues` (1 to 64 distinct names, in order).
    mutating func queues() throws -> [Key] {
        switch (take("queue"), take("queues")) {
        case (.string(let name)?, nil):
            return [try keyLimit.key(name)]
        case (nil, .array(let names)?):
            let queues = try names.map { name in
                guard case .string(let text) = name else {
                    throw GatewayError.badRequest("'queues' must be an array of queue names.")
                }
                return try keyLimit.key(text)
            }
            return try QueueList.checked(queues)
        default:
            throw GatewayError.badRequest("Give 'queue' (a name) or 'queues' (an array of names), not both.")
        }
    }

    /// The key globs of a `subscribe`: `key`, one glob or an array of them; none for all keys.
    mutating func patterns() throws -> [KeyPattern] {
        switch take("key") {
        case nil, .null?: return []
        case .string(let glob)?: return [try KeyPattern(glob)]
        case .array(let globs)?:
            return try globs.map { glob in
                guard case .string(let text) = glob else {
                    throw GatewayError.badRequest("'key' must be a glob or an array of globs.")
                }
                return try KeyPattern(text)
            }
        default:
            throw GatewayError.badRequest("'key' must be a glob or an array of globs.")
        }
    }

    /// The event types of a `subscribe`: `type`, an array of names or a comma-separated list;
    /// every type when absent.
    mutating func eventTypes() throws(GatewayError) -> Set<KeyspaceEventType> {
        switch take("type") {
        case nil, .null?:
            return Set(KeyspaceEventType.allCases)
        case .string(let list)?:
            return try EventTypeList.parse(list.split(separator: ",", omittingEmptySubsequences: false))
        case .array(let names)?:
            let texts = try names.map { name throws(GatewayError) in
                guard case .string(let text) = name else {
                    throw .badRequest("'type' must be an array of event type names.")
                }
                return Substring(text)
            }
            return try EventTypeList.parse(texts)
        default:
            throw .badRequest("'type' must be an array of event type names.")
        }
    }

    /// An event id: a whole number, or as a string, its digits or a cluster's id
    /// (`EventPosition`); `nil` when absent.
    mutating func eventID(_ name: String) throws(GatewayError) -> EventPosition? {
        switch take(name) {
        case nil, .null?: return nil
        case .integer(let id)? where id >= 0: return EventPosition(id: UInt64(id))
        case .string(let text)?: return try EventTypeList.eventID(text)
        default: throw .badRequest("'\(name)' must be an event id: a whole number, or a string.")
        }
    }

    /// Refuses any member not read.
    func refuseUnread(op: String) throws(GatewayError) {
        guard let unknown = members.keys.sorted().first else { return }
        throw .badRequest("Unknown member '\(unknown)' for op '\(op)'.")
    }
}
