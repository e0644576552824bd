import Keyspace

/// What clients give the leases and policies of queues, as REST bodies and WebSocket members
/// both carry them: receipts, visibility timeouts and policies, read strictly.
enum LeaseInput {
    /// A visibility timeout in seconds: a number from 0 (a release, when `allowsZero`) to
    /// `QueueLimits.maximumVisibility`.
    static func visibility(_ value: JSONValue?, allowsZero: Bool) throws(GatewayError) -> Duration {
        let seconds: Double
        switch value {
        case .integer(let number)?: seconds = Double(number)
        case .number(let number)?: seconds = number
        default:
            throw .badRequest("'visibility' is required: a number of seconds, such as 30 or 0.5.")
        }
        let maximum = Seconds.text(QueueLimits.maximumVisibility)
        guard seconds >= 0, allowsZero || seconds > 0, seconds <= Seconds.of(QueueLimits.maximumVisibility)
        else {
            throw .badRequest(
                "'visibility' is \(allowsZero ? "0 (a release)" : "more than 0") to \(maximum) seconds.")
        }
        return try SecondsParser.duration(seconds: seconds, parameter: "visibility")
    }

    /// A visibility timeout given as query text, more than 0.
    static func visibility(_ text: String) throws(GatewayError) -> Duration {
        let visibility = try SecondsParser.parse(text, parameter: "visibility")
        guard visibility > .zero, visibility <= QueueLimits.maximumVisibility else {
            throw .badRequest(
                "'visibility' is more than 0 to \(Seconds.text(QueueLimits.maximumVisibility)) seconds.")
        }
        return visibility
    }

    /// A delay given as query text, 0 to `QueueLimits.maximumDelay`.
    static func delay(_ text: String) throws(GatewayError) -> Duration {
        let delay = try SecondsParser.parse(text, parameter: "delay")
        guard delay <= QueueLimits.maximumDelay else {
            throw .badRequest("'delay' is at most \(Seconds.text(QueueLimits.maximumDelay)) seconds.")
        }
        return delay
    }

    /// The receipts of a batch acknowledgement: an array of 1 to 1 000 strings, duplicates
    /// dropped (the first kept).
    static func receipts(_ value: JSONValue?) throws(GatewayError) -> [String] {
        let limits = QueueLimits.acknowledgeLimits
        guard case .array(let items)? = value, limits.contains(items.count) else {
            throw .badRequest(
                "'receipts' is required: an array of \(limits.lowerBound) to \(limits.upperBound) receipts.")
        }
        var seen = Set<String>()
        var receipts: [String] = []
        for item in items {
            guard case .string(let receipt) = item else {
                throw .badRequest("'receipts' must be an array of receipts, as strings.")
            }
            if seen.insert(receipt).inserted {
                receipts.append(receipt)
            }
        }
        return receipts
    }

    /// A policy from the members of its JSON object: `visibility` (seconds, default 30),
    /// `maxReceives` and `deadLetter` (both, or neither: `null` or absent). Any other member is
    /// refused.
    static func policy(_ value: JSONValue?, keyLimit: KeyLimit) throws -> QueuePolicy {
        guard case .object(let members)? = value else {
            throw GatewayError.badRequest(
                #"The body must be a JSON object such as {"visibility": 30, "maxReceives": 5, "deadLetter": "jobs-dead"}."#
            )
        }
        if let unknown = members.keys.sorted().first(where: {
            !["visibility", "maxReceives", "deadLetter"].contains($0)
        }) {
            throw GatewayError.badRequest(
                "Unknown member '\(unknown)'; a policy has 'visibility', 'maxReceives' and 'deadLetter'.")
        }
        var policy = QueuePolicy()
        if let visibility = members["visibility"] {
            policy.visibility = try Self.visibility(visibility, allowsZero: false)
        }
        switch members["maxReceives"] {
        case nil, .null?:
            break
        case .integer(let count)? where QueueLimits.maxReceivesLimits.contains(Int(clamping: count)):
            policy.maxReceives = Int(count)
        default:
            let limits = QueueLimits.maxReceivesLimits
            throw GatewayError.badRequest(
                "'maxReceives' is a whole number from \(limits.lowerBound) to \(limits.upperBound), or null.")
        }
        switch members["deadLetter"] {
        case nil, .null?:
            break
        case .string(let name)?:
            policy.deadLetter = try keyLimit.key(name)
        default:
            throw GatewayError.badRequest("'deadLetter' is a queue name, or null.")
        }
        return policy
    }
}
