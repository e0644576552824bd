/// One key in a listing.
package struct KeyInfo: Sendable, Equatable {
    /// The key.
    package var key: Key
    /// The type of its value.
    package var type: KeyType
    /// Its time to live at the moment of listing.
    package var timeToLive: TimeToLive
    /// The bytes its value holds: a string's, or all of a queue's messages together.
    package var bytes: Int
    /// The number of messages of a queue; `nil` for a string.
    package var length: Int?

    /// Creates a listing row.
    package init(key: Key, type: KeyType, timeToLive: TimeToLive, bytes: Int, length: Int? = nil) {
        self.key = key
        self.type = type
        self.timeToLive = timeToLive
        self.bytes = bytes
        self.length = length
    }
}
