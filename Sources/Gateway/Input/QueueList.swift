import Keyspace
import MicroHTTPD

/// The queues one pop names, as REST (`?queues=a,b`) and WebSocket (`"queues": [...]`) give
/// them: 1 to 64 distinct keys, in the order given.
enum QueueList {
    /// The most queues one pop may name.
    static let maxCount = 64

    /// The queues of a comma-separated list, each within `keyLimit`.
    static func parse(_ text: String, keyLimit: KeyLimit) throws -> [Key] {
        try checked(
            text.split(separator: ",", omittingEmptySubsequences: false).map { try keyLimit.key(String($0)) })
    }

    /// `queues`, once checked to be 1 to 64 distinct keys.
    static func checked(_ queues: [Key]) throws(GatewayError) -> [Key] {
        guard (1...maxCount).contains(queues.count) else {
            throw .badRequest("A pop names 1 to \(maxCount) queues.")
        }
        guard Set(queues).count == queues.count else {
            throw .badRequest("A pop names a queue twice.")
        }
        return queues
    }
}
