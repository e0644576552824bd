// Public rather than package, as Mutex.swift says why: so that other modules inline them.
extension Duration {
    /// Whole milliseconds, any fraction dropped.
    @inlinable public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole milliseconds, any fraction rounded up, so a positive duration is never 0 ms.
    @inlinable public var roundedUpMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (milliseconds, remainder) = attoseconds.quotientAndRemainder(
            dividingBy: 1_000_000_000_000_000)
        return seconds * 1000 + milliseconds + (remainder > 0 ? 1 : 0)
    }

    /// Whole nanoseconds, clamped to `Int64`.
    @inlinable public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
