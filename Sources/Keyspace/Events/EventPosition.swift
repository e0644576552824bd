/// Where a subscriber stands in the event history, as its last event id says: after the event
/// with id `id`, and, on an engine that tells an expiration before its history holds it (a
/// cluster's), having been told already the `expired` of the records in `announced`, whose
/// copies the history holds after `id`. Such a copy is not told again, on any gateway the
/// subscriber resumes on.
///
/// Its text is the id, then, when some expirations were told ahead, `~` and their records as
/// ranges: `1042`, `1042~77-80,95`.
package struct EventPosition: Sendable, Equatable, CustomStringConvertible {
    package var id: UInt64
    package var announced: AnnouncedExpirations
    /// Where the subscriber is among the expirations the engine told ahead (its own count,
    /// not part of the id): 0 before it read any.
    package var aheadCursor: UInt64 = 0

    /// A position after event `id`, with the expirations `announced` told ahead.
    package init(id: UInt64, announced: AnnouncedExpirations = AnnouncedExpirations()) {
        self.id = id
        self.announced = announced
    }

    /// The position `text` writes, `nil` when it is not one. O(length).
    package init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "~", maxSplits: 1, omittingEmptySubsequences: false)
        guard let id = Self.number(parts[0]) else { return nil }
        self.id = id
        if parts.count == 2 {
            guard let announced = AnnouncedExpirations(parts[1]), !announced.isEmpty else { return nil }
            self.announced = announced
        } else {
            announced = AnnouncedExpirations()
        }
    }

    /// The id's text. O(ranges).
    package var description: String {
        announced.isEmpty ? String(id) : "\(id)~\(announced)"
    }

    /// A whole number written in digits only.
    static func number(_ text: some StringProtocol) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        return UInt64(text)
    }
}
