/// How long a key has left.
package enum TimeToLive: Sendable, Equatable {
    /// The longest time to live accepted: about 317 years, far beyond any cache entry's life
    /// and far from overflowing millisecond deadlines.
    package static let maximum = Duration.seconds(10_000_000_000)

    /// The key never expires.
    case persistent
    /// The key expires after this long (millisecond resolution).
    case remaining(Duration)

    /// Checks that `duration` is a valid time to live: positive and at most `maximum`.
    package static func validate(_ duration: Duration) throws(KeyspaceError) {
        guard duration > .zero else {
            throw .invalidTimeToLive("A time to live must be positive.")
        }
        guard duration <= maximum else {
            throw .invalidTimeToLive("A time to live is at most \(maximum.components.seconds) seconds.")
        }
    }
}
