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

/// One page of a listing of keys, in byte order.
package struct KeyPage: Sendable, Equatable {
    /// The keys of this page.
    package var keys: [KeyInfo]
    /// Where the next page starts, or `nil` when this is the last page.
    ///
    /// The cursor is the last key this page looked at: keys present during the whole listing
    /// appear exactly once across the pages, whatever is written meanwhile.
    package var cursor: Key?

    /// Creates a page.
    package init(keys: [KeyInfo], cursor: Key?) {
        self.keys = keys
        self.cursor = cursor
    }
}
