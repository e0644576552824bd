/// What one pass of the expirer did.
package struct ExpiryPass: Sendable, Equatable {
    /// The keys removed, earliest deadline first.
    package var expired: [Key]
    /// The earliest deadline left, if any.
    package var nextDeadline: Timestamp?
    /// Whether keys already due remain (the pass stopped at its limit).
    package var hasMoreDue: Bool
}
