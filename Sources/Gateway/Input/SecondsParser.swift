/// Reads durations given in seconds, as the API takes them (`ttl`, `wait`): a finite decimal,
/// fractions allowed, kept to millisecond resolution (rounded up, so a positive value never
/// becomes 0). Whether zero is allowed is the caller's rule.
enum SecondsParser {
    /// Parses query text such as `30`, `0.25` or `.5`: digits with at most one `.`, nothing
    /// else (no sign, exponent, `inf` or `nan`). Exact: no floating point is involved.
    ///
    /// - Parameter parameter: the query parameter's name, for the error's detail.
    static func parse(_ text: String, parameter: String = "ttl") throws(GatewayError) -> Duration {
        let parts = Array(text.utf8).split(
            separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count > 1 ? parts[1] : []
        guard !(whole.isEmpty && fraction.isEmpty), isDigits(whole), isDigits(fraction) else {
            throw .badRequest("'\(parameter)' must be a decimal number of seconds, such as 30 or 0.25.")
        }
        let wholeDigits = whole.drop(while: { $0 == UInt8(ascii: "0") })
        guard wholeDigits.count <= 11 else {
            throw .badRequest("'\(parameter)' is too large.")
        }
        var milliseconds = wholeDigits.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        for position in 0..<3 {
            let digit = position < fraction.count ? fraction[fraction.startIndex + position] : 48
            milliseconds = milliseconds * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        let isRoundedUp = fraction.dropFirst(3).contains { $0 != UInt8(ascii: "0") }
        return .milliseconds(milliseconds + (isRoundedUp ? 1 : 0))
    }

    /// Converts a JSON number of seconds, rounding to whole microseconds first so that
    /// decimal fractions such as 0.1 are not pushed up a millisecond by binary error.
    static func duration(seconds: Double, parameter: String = "ttl") throws(GatewayError) -> Duration {
        guard seconds.isFinite, seconds <= 1e12 else {
            throw .badRequest("'\(parameter)' must be a finite number of seconds.")
        }
        guard seconds > 0 else { return .zero }
        let microseconds = (seconds * 1_000_000).rounded()
        let milliseconds = max(1, Int64((microseconds / 1000).rounded(.up)))
        return .milliseconds(milliseconds)
    }

    /// A pop's `wait`, at most `maxWait`.
    static func checkWait(_ wait: Duration, atMost maxWait: Duration) throws(GatewayError) -> Duration {
        guard wait <= maxWait else {
            throw .badRequest("'wait' is at most \(Seconds.text(maxWait)) seconds on this server.")
        }
        return wait
    }

    /// A pop's `wait` as query text, at most `maxWait`.
    static func wait(_ text: String, atMost maxWait: Duration) throws(GatewayError) -> Duration {
        try checkWait(parse(text, parameter: "wait"), atMost: maxWait)
    }

    private static func isDigits(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }
}
