/// What the keyspace's memory holds, for `/healthz` and `/metrics`.
package struct MemoryStatus: Sendable, Equatable {
    /// The bytes held, as the engine counts them (README, "Memory").
    package var used: Int
    /// The limit; `nil` for none.
    package var limit: Int?
    /// The eviction policy's name.
    package var policy: String
    /// The keys evicted since start-up.
    package var evicted: UInt64

    /// A status.
    package init(used: Int, limit: Int?, policy: String, evicted: UInt64) {
        self.used = used
        self.limit = limit
        self.policy = policy
        self.evicted = evicted
    }
}
