import Keyspace
import MicroHTTPD

/// The event types and ids a subscriber names, as event streams and WebSocket subscriptions
/// take them.
enum EventTypeList {
    /// The types named, each one of `KeyspaceEventType`.
    static func parse(_ names: [Substring]) throws(GatewayError) -> Set<KeyspaceEventType> {
        var types = Set<KeyspaceEventType>()
        for name in names {
            guard let type = KeyspaceEventType(rawValue: String(name)) else {
                let known = KeyspaceEventType.allCases.map(\.rawValue).joined(separator: ", ")
                throw .badRequest("'\(name)' is not an event type; known: \(known).")
            }
            types.insert(type)
        }
        return types
    }

    /// An event id given as text: digits, which a cluster may follow with the expirations it
    /// told ahead (`EventPosition`).
    static func eventID(_ text: String) throws(GatewayError) -> EventPosition {
        guard let position = EventPosition(text) else {
            throw .badRequest(
                "'\(text)' is not an event id; ids are whole numbers, or as a cluster gives them, such as 1042~77-80,95."
            )
        }
        return position
    }
}
