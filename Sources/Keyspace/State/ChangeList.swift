/// The changes made and not yet published, in the order made.
///
/// Most operations make one change, and every write and pop goes through here: the first is
/// kept inline, so that such an operation allocates nothing. Only the rare operation that also
/// finds keys expired, and the expirer's passes, spill into an array.
struct ChangeList {
    private var first: KeyspaceChange?
    private var rest: [KeyspaceChange] = []
    /// The position in `rest` of the next change to take once `first` is taken.
    private var next = 0

    /// Adds a change after the others. Amortized O(1).
    mutating func append(_ change: consuming KeyspaceChange) {
        if case .none = first, rest.isEmpty {
            first = change
        } else {
            rest.append(change)
        }
    }

    /// Removes and returns the oldest change; `nil`, with the list emptied, once all are taken.
    mutating func removeFirst() -> KeyspaceChange? {
        if case .some = first {
            return first.take()
        }
        guard next < rest.count else {
            if !rest.isEmpty {
                rest = []
                next = 0
            }
            return nil
        }
        next += 1
        return rest[next - 1]
    }
}
