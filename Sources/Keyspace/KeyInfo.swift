/// One key in a listing.
package struct KeyInfo: Sendable, Equatable {
    /// The key.
    package var key: Key
    /// The type of its value.
    package var type: KeyType
    /// Its time to live at the moment of listing.
    package var timeToLive: TimeToLive
    /// The size of its value: bytes for a string.
    package var size: Int

    /// Creates a listing row.
    package init(key: Key, type: KeyType, timeToLive: TimeToLive, size: Int) {
        self.key = key
        self.type = type
        self.timeToLive = timeToLive
        self.size = size
    }
}
