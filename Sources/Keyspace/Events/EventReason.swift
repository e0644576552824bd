/// Why a `release` event's message became visible.
package enum EventReason: String, Sendable, Equatable, CaseIterable {
    /// Its lease ended without an acknowledgement.
    case expired
    /// Its consumer released it (a visibility of 0), or never got it.
    case released
    /// Its delay ended: it is visible for the first time.
    case delayed
}
