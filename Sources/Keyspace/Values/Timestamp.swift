import Plumbing

/// A point in wall-clock time: milliseconds since the Unix epoch, as Redis keeps deadlines.
package struct Timestamp: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    package var milliseconds: Int64

    /// Creates a timestamp.
    package init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// The milliseconds.
    package var description: String { "\(milliseconds) ms" }

    /// Orders timestamps by time.
    package static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.milliseconds < rhs.milliseconds
    }

    /// The timestamp `duration` later, rounded up to the next millisecond.
    package static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(milliseconds: lhs.milliseconds + rhs.roundedUpMilliseconds)
    }

    /// The time from `rhs` to `lhs`.
    package static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        .milliseconds(lhs.milliseconds - rhs.milliseconds)
    }
}
