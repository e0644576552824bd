/// How many messages are in each state: in one queue, or in all of them.
package struct MessageCounts: Equatable, Sendable {
    /// In line.
    package var visible = 0
    /// Leased.
    package var inFlight = 0
    /// Delayed.
    package var delayed = 0

    /// Counts of nothing.
    package init() {}

    /// Counts of each state.
    package init(visible: Int, inFlight: Int, delayed: Int) {
        self.visible = visible
        self.inFlight = inFlight
        self.delayed = delayed
    }

    /// Adds the counts of `rhs`.
    package static func += (lhs: inout MessageCounts, rhs: MessageCounts) {
        lhs.visible += rhs.visible
        lhs.inFlight += rhs.inFlight
        lhs.delayed += rhs.delayed
    }

    /// Subtracts the counts of `rhs`.
    package static func -= (lhs: inout MessageCounts, rhs: MessageCounts) {
        lhs.visible -= rhs.visible
        lhs.inFlight -= rhs.inFlight
        lhs.delayed -= rhs.delayed
    }
}
