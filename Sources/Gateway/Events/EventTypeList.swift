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

    /// An event id given as text: digits only.
    static func eventID(_ text: String) throws(GatewayError) -> UInt64 {
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let id = UInt64(text)
        else {
            throw .badRequest("'\(text)' is not an event id; ids are whole numbers.")
        }
        return id
    }
}
