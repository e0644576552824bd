import Keyspace

/// The JSON `{"ttl": seconds}` or `{"ttl": null}` (no expiry), read and written.
///
/// Strict when read: the object must have exactly the member `ttl`, a number or `null`.
struct TimeToLiveBody: Codable {
    /// Seconds left, with millisecond precision; `nil` for a key that never expires.
    let seconds: Double?

    private struct MemberName: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }

        static let ttl = MemberName(stringValue: "ttl")
    }

    /// The body for a key's time to live.
    init(_ timeToLive: TimeToLive) {
        switch timeToLive {
        case .persistent: seconds = nil
        case .remaining(let duration): seconds = Seconds.of(duration)
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: MemberName.self)
        guard container.allKeys.map(\.stringValue) == ["ttl"] else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "expected exactly the member 'ttl'"))
        }
        seconds =
            try container.decodeNil(forKey: .ttl)
            ? nil : try container.decode(Double.self, forKey: .ttl)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: MemberName.self)
        try container.encode(seconds, forKey: .ttl)
    }
}
