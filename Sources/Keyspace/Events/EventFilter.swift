/// Which events a subscriber wants: keys matching any of its patterns (all keys when it has
/// none), of any of its types.
package struct EventFilter: Sendable, Equatable {
    /// Key patterns; an event's key must match one. Empty: every key.
    package var patterns: [KeyPattern]
    /// Event types wanted.
    package var types: Set<KeyspaceEventType>

    /// Creates a filter; the defaults let every event through.
    package init(patterns: [KeyPattern] = [], types: Set<KeyspaceEventType> = Set(KeyspaceEventType.allCases))
    {
        self.patterns = patterns
        self.types = types
    }

    /// Whether `event` passes. O(patterns × key length).
    package func matches(_ event: KeyspaceEvent) -> Bool {
        types.contains(event.type) && (patterns.isEmpty || patterns.contains { $0.matches(event.key) })
    }
}
