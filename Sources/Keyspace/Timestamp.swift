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

extension Duration {
    /// Whole milliseconds, rounding any fraction up so a positive duration is never 0 ms.
    package var roundedUpMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000
        let (milliseconds, remainder) = attoseconds.quotientAndRemainder(
            dividingBy: attosecondsPerMillisecond)
        return seconds * 1000 + milliseconds + (remainder > 0 ? 1 : 0)
    }
}
