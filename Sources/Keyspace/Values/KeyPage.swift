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
