import Plumbing

/// Durations shown to clients: seconds as a JSON number, to the millisecond.
enum Seconds {
    /// `duration` in seconds, for example 12.5 for 12 500 ms.
    static func of(_ duration: Duration) -> Double {
        Double(duration.wholeMilliseconds) / 1000
    }

    /// `duration` in seconds as text: `60` for a whole number of seconds, else `0.25`.
    static func text(_ duration: Duration) -> String {
        let seconds = of(duration)
        return seconds == seconds.rounded() ? String(Int64(seconds)) : String(seconds)
    }
}
