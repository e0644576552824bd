import Glibc

/// Wall-clock bounds of tests that measure time, stretched where the code runs slower than
/// usual: by `KEYGATE_TEST_TIME_SCALE` (a whole number, default 1), which `make test-sanitize`
/// sets because sanitized code runs several times slower.
package enum TestTiming {
    /// The factor applied to every measured bound.
    package static let scale: Int = {
        guard let text = getenv("KEYGATE_TEST_TIME_SCALE").map({ String(cString: $0) }) else { return 1 }
        guard let scale = Int(text), scale >= 1 else {
            preconditionFailure("KEYGATE_TEST_TIME_SCALE must be a whole number from 1, not '\(text)'")
        }
        return scale
    }()

    /// `bound`, stretched by `scale`.
    package static func scaled(_ bound: Duration) -> Duration {
        bound * scale
    }
}
