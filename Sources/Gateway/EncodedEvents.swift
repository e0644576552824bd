import DequeModule
import Keyspace
import Synchronization

/// Recent events in their wire form, shared by every stream: an event going out to a thousand
/// subscribers is encoded once, not a thousand times.
final class EncodedEvents: Sendable {
    private struct State {
        var encoded: [UInt64: [UInt8]] = [:]
        var ids: Deque<UInt64> = []
    }

    /// How many encoded events are kept; more than a stream reads at a time.
    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The wire form of `event`, encoded on first use. O(1).
    func bytes(of event: KeyspaceEvent) -> [UInt8] {
        if let cached = state.withLock({ $0.encoded[event.id] }) {
            return cached
        }
        let bytes = ServerSentEvents.event(event)
        state.withLock { state in
            guard state.encoded.updateValue(bytes, forKey: event.id) == nil else { return }
            state.ids.append(event.id)
            if state.ids.count > capacity, let oldest = state.ids.popFirst() {
                state.encoded[oldest] = nil
            }
        }
        return bytes
    }
}
