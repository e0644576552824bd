/// What a token may do, as its scopes name it.
package enum AccessAction: String, CaseIterable, Sendable {
    /// Read a value, its time to live, a queue's state and messages; list keys.
    case read
    /// Write or delete a value, set its time to live, delete a queue.
    case write
    /// Push to a queue.
    case push
    /// Pop from a queue.
    case pop
    /// Hear of events on a key.
    case subscribe
    /// Read `/metrics`; granted by the scope `admin` alone.
    case admin

    /// The action's bit in a scope's set of actions.
    var bit: UInt8 {
        switch self {
        case .read: 1
        case .write: 2
        case .push: 4
        case .pop: 8
        case .subscribe: 16
        case .admin: 32
        }
    }

    /// The actions a scope of `*` grants: every one on keys, not `admin`.
    static let onKeys: [AccessAction] = [.read, .write, .push, .pop, .subscribe]
}
