import DequeModule
import Keyspace
import Plumbing

/// Recent events in their wire forms, shared by every stream and WebSocket subscription: an
/// event going out to a thousand subscribers is encoded once, not a thousand times.
final class EncodedEvents: Sendable {
    /// One event's wire forms.
    private struct Forms {
        /// The server-sent event block.
        let serverSent: [UInt8]
        /// The JSON object.
        let json: String
    }

    private struct State {
        var encoded: [UInt64: Forms] = [:]
        var ids: Deque<UInt64> = []
    }

    /// How many encoded events are kept; more than a subscriber reads at a time.
    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The server-sent event block of `event`, encoded on first use. O(1).
    func serverSentEvent(_ event: KeyspaceEvent) -> [UInt8] {
        forms(of: event).serverSent
    }

    /// The JSON object of `event`, encoded on first use. O(1).
    func json(_ event: KeyspaceEvent) -> String {
        forms(of: event).json
    }

    private func forms(of event: KeyspaceEvent) -> Forms {
        if let cached = state.withLock({ $0.encoded[event.id] }) {
            return cached
        }
        let json = event.json
        let forms = Forms(serverSent: ServerSentEvents.event(event, json: json), json: json)
        state.withLock { state in
            guard state.encoded.updateValue(forms, forKey: event.id) == nil else { return }
            state.ids.append(event.id)
            if state.ids.count > capacity, let oldest = state.ids.popFirst() {
                state.encoded[oldest] = nil
            }
        }
        return forms
    }
}
