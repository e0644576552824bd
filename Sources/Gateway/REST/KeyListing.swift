import Keyspace

/// The JSON of one listing page: `{"keys": [...], "cursor": "…" | null}`.
struct KeyListing: Encodable {
    /// One key: `{"key", "type", "ttl" (seconds or null), "bytes"}`, and `"length"` for a queue.
    struct Row: Encodable {
        let key: String
        let type: String
        let seconds: Double?
        let bytes: Int
        let length: Int?

        private enum CodingKeys: String, CodingKey {
            case key, type
            case seconds = "ttl"
            case bytes, length
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(key, forKey: .key)
            try container.encode(type, forKey: .type)
            try container.encode(seconds, forKey: .seconds)
            try container.encode(bytes, forKey: .bytes)
            try container.encodeIfPresent(length, forKey: .length)
        }
    }

    let keys: [Row]
    let cursor: String?

    /// The JSON of `page`.
    init(_ page: KeyPage) {
        keys = page.keys.map { info in
            let seconds: Double? =
                switch info.timeToLive {
                case .persistent: nil
                case .remaining(let duration): Seconds.of(duration)
                }
            return Row(
                key: info.key.text, type: info.type.rawValue, seconds: seconds, bytes: info.bytes,
                length: info.length)
        }
        cursor = page.cursor.map(ListingCursor.encode)
    }

    private enum CodingKeys: String, CodingKey {
        case keys, cursor
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(keys, forKey: .keys)
        try container.encode(cursor, forKey: .cursor)
    }
}
