/// The records whose `expired` a subscriber was told before the event history held it, as
/// sorted, disjoint ranges (records written one after another, as one client's often are,
/// make one range). Insertions stop at `maximumRanges` ranges, so that an event id stays
/// short; a removal that would split a range past twice that leaves the record in, which is
/// harmless once its copy is behind the subscriber.
package struct AnnouncedExpirations: Sendable, Equatable, CustomStringConvertible {
    /// The most ranges an insertion makes; twice as many are read from an id.
    package static let maximumRanges = 64

    /// The records, in increasing order, no two ranges touching.
    package private(set) var ranges: [ClosedRange<UInt64>] = []

    /// An empty set.
    package init() {}

    /// The set `text` writes: records `a` or ranges `a-b`, separated by commas, in any order
    /// (they are sorted and joined); `nil` when it is not one, or has more than twice
    /// `maximumRanges` of them. O(length + ranges log ranges).
    package init?(_ text: some StringProtocol) {
        var ranges: [ClosedRange<UInt64>] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = EventPosition.number(bounds[0]),
                let last = bounds.count == 2 ? EventPosition.number(bounds[1]) : first,
                ranges.count < 2 * Self.maximumRanges
            else { return nil }
            ranges.append(min(first, last)...max(first, last))
        }
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = self.ranges.last,
                range.lowerBound <= last.upperBound || range.lowerBound - last.upperBound == 1
            {
                self.ranges[self.ranges.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                self.ranges.append(range)
            }
        }
    }

    /// Whether it names no record.
    package var isEmpty: Bool { ranges.isEmpty }

    /// Whether `record` is in the set. O(log ranges).
    package func contains(_ record: UInt64) -> Bool {
        let index = firstIndex(endingAtOrAfter: record)
        return index < ranges.count && ranges[index].contains(record)
    }

    /// Adds `record`, unless that would make more than `maximumRanges` ranges: `false` then.
    /// O(ranges).
    @discardableResult
    package mutating func insert(_ record: UInt64) -> Bool {
        let index = firstIndex(endingAtOrAfter: record)
        if index < ranges.count, ranges[index].contains(record) { return true }
        let joinsPrevious = index > 0 && ranges[index - 1].upperBound == record - 1
        let joinsNext = index < ranges.count && record < .max && ranges[index].lowerBound == record + 1
        switch (joinsPrevious, joinsNext) {
        case (true, true):
            ranges[index - 1] = ranges[index - 1].lowerBound...ranges[index].upperBound
            ranges.remove(at: index)
        case (true, false):
            ranges[index - 1] = ranges[index - 1].lowerBound...record
        case (false, true):
            ranges[index] = record...ranges[index].upperBound
        case (false, false):
            guard ranges.count < Self.maximumRanges else { return false }
            ranges.insert(record...record, at: index)
        }
        return true
    }

    /// Removes `record`, unless it would split a range past twice `maximumRanges` ranges.
    /// O(ranges).
    package mutating func remove(_ record: UInt64) {
        let index = firstIndex(endingAtOrAfter: record)
        guard index < ranges.count, ranges[index].contains(record) else { return }
        let range = ranges[index]
        switch (range.lowerBound == record, range.upperBound == record) {
        case (true, true):
            ranges.remove(at: index)
        case (true, false):
            ranges[index] = (record + 1)...range.upperBound
        case (false, true):
            ranges[index] = range.lowerBound...(record - 1)
        case (false, false):
            guard ranges.count < 2 * Self.maximumRanges else { return }
            ranges[index] = (record + 1)...range.upperBound
            ranges.insert(range.lowerBound...(record - 1), at: index)
        }
    }

    /// The ranges' text, `77-80,95`. O(ranges).
    package var description: String {
        ranges.map {
            $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)"
        }
        .joined(separator: ",")
    }

    /// The index of the first range whose upper bound is `record` or more.
    private func firstIndex(endingAtOrAfter record: UInt64) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound < record {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }
}
