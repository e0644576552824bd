import Keyspace
import Plumbing
import WebSocket

/// Recent events in their wire forms, shared by every stream and WebSocket subscription: an
/// event going out to a thousand subscribers is encoded once, not a thousand times, and a
/// subscriber's batch is looked up under one lock.
///
/// The forms sit in a ring indexed by event id, so that finding one costs no hashing; an event
/// whose slot a newer one took is encoded again (the ring holds far more events than
/// subscribers read at a time), and so is one whose id is its subscriber's own (it names
/// expirations told ahead, `EventPosition`).
final class EncodedEvents: Sendable {
    /// One event's wire forms.
    private struct Forms {
        /// The server-sent event block.
        let serverSent: [UInt8]
        /// The JSON object, UTF-8.
        let json: [UInt8]

        init(_ event: KeyspaceEvent) {
            json = Array(event.json.utf8)
            serverSent = ServerSentEvents.event(event, json: json)
        }

        private init() {
            serverSent = []
            json = []
        }

        /// A placeholder, replaced before it is read.
        static let placeholder = Forms()
    }

    private struct Slot {
        var id: UInt64 = 0
        var forms: Forms?
    }

    private let capacity: Int
    private let slots: Mutex<[Slot]>

    /// A ring of `capacity` events.
    init(capacity: Int = 4096) {
        precondition(capacity > 0, "the ring holds at least one event")
        self.capacity = capacity
        slots = Mutex([Slot](repeating: Slot(), count: capacity))
    }

    /// Appends the server-sent event block of each of `events`, in order. O(bytes).
    func appendServerSentEvents(_ events: [KeyspaceEvent], to bytes: inout [UInt8]) {
        for forms in forms(of: events) {
            bytes += forms.serverSent
        }
    }

    /// Appends, for each of `events` in order, a WebSocket text frame of the message
    /// `{"subscription":…,"event":…}` (`WebSocketReply.event`). O(bytes).
    func appendWebSocketEvents(_ events: [KeyspaceEvent], subscription: Int, to frames: inout [UInt8]) {
        // A small string: its digits cost no allocation.
        let number = String(subscription).utf8
        let prefixCount = Self.subscriptionField.count + number.count + Self.eventField.count
        for forms in forms(of: events) {
            FrameEncoder.appendTextHeader(payloadCount: prefixCount + forms.json.count + 1, to: &frames)
            frames += Self.subscriptionField
            frames += number
            frames += Self.eventField
            frames += forms.json
            frames.append(UInt8(ascii: "}"))
        }
    }

    private static let subscriptionField = Array(#"{"subscription":"#.utf8)
    private static let eventField = Array(#","event":"#.utf8)

    /// The forms of `events`, encoding those not in the ring outside the lock. O(events).
    private func forms(of events: [KeyspaceEvent]) -> [Forms] {
        var (forms, missing) = slots.withLock { slots in
            var forms: [Forms] = []
            forms.reserveCapacity(events.count)
            var missing: [Int] = []
            for event in events {
                let slot = slots[index(of: event.id)]
                if slot.id == event.id, event.announced.isEmpty, let cached = slot.forms {
                    forms.append(cached)
                } else {
                    missing.append(forms.count)
                    forms.append(.placeholder)
                }
            }
            return (forms, missing)
        }
        guard !missing.isEmpty else { return forms }
        for position in missing {
            forms[position] = Forms(events[position])
        }
        slots.withLock { slots in
            // An event whose id names expirations told ahead is its subscriber's alone.
            for position in missing where events[position].announced.isEmpty {
                let id = events[position].id
                // A newer event may have taken the slot meanwhile: it keeps it.
                if slots[index(of: id)].id <= id {
                    slots[index(of: id)] = Slot(id: id, forms: forms[position])
                }
            }
        }
        return forms
    }

    private func index(of id: UInt64) -> Int {
        Int(id % UInt64(capacity))
    }
}
