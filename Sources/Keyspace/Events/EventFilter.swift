/// Which events a subscriber wants: keys matching any of its patterns (all keys when it has
/// none), of any of its types; and, whatever it wants, only keys it may hear of.
///
/// `matches` is where an event is accepted for a subscriber, live or replayed. Hashable, so
/// that the notifier matches each event once for every subscriber of equal filters: anything
/// added to what decides `matches` must take part in equality (`permitted` does).
package struct EventFilter: Sendable, Hashable {
    /// Key patterns; an event's key must match one. Empty: every key.
    package var patterns: [KeyPattern]
    /// Event types wanted.
    package var types: Set<KeyspaceEventType> {
        didSet { typeBits = Self.bits(of: types) }
    }
    /// Patterns of the keys the subscriber may hear of at all (what its access scope grants);
    /// an event's key must match one. `nil`: every key.
    package var permitted: [KeyPattern]?
    /// `types` as one bit per type, which `matches` tests without hashing.
    private var typeBits: UInt32

    /// Creates a filter; the defaults let every event through.
    package init(patterns: [KeyPattern] = [], types: Set<KeyspaceEventType> = Set(KeyspaceEventType.allCases))
    {
        self.patterns = patterns
        self.types = types
        typeBits = Self.bits(of: types)
    }

    /// Whether `event` passes. O((patterns + permitted) × key length).
    package func matches(_ event: KeyspaceEvent) -> Bool {
        typeBits & event.type.bit != 0 && (patterns.isEmpty || patterns.contains { $0.matches(event.key) })
            && (permitted?.contains { $0.matches(event.key) } ?? true)
    }

    private static func bits(of types: Set<KeyspaceEventType>) -> UInt32 {
        types.reduce(0) { $0 | $1.bit }
    }
}
