extension Duration {
    /// Whole milliseconds, any fraction dropped.
    package var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole milliseconds, any fraction rounded up, so a positive duration is never 0 ms.
    package var roundedUpMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (milliseconds, remainder) = attoseconds.quotientAndRemainder(
            dividingBy: 1_000_000_000_000_000)
        return seconds * 1000 + milliseconds + (remainder > 0 ? 1 : 0)
    }

    /// Whole nanoseconds, clamped to `Int64`.
    package var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    /// The duration in seconds, as a floating-point number.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
