extension KeyspaceState {
    /// The policy of `queue`: the one set, or the standard one.
    func policy(of queue: Key) -> QueuePolicy {
        // Most keyspaces set no policy: no key hashed then.
        policies.isEmpty ? .standard : policies[queue] ?? .standard
    }

    /// The policy of `queue`; a string there is a type error.
    mutating func readPolicy(of queue: Key, now: Timestamp) throws(KeyspaceError) -> QueuePolicy {
        _ = try visibleLength(queue, now: now)
        return policy(of: queue)
    }

    /// Sets the policy of `queue`, or resets it with `nil`; returns the policy now in force.
    /// A string at `queue` or at the dead-letter queue is a type error.
    mutating func setPolicy(_ policy: QueuePolicy?, of queue: Key, now: Timestamp) throws(KeyspaceError)
        -> QueuePolicy
    {
        try policy?.validate(for: queue)
        _ = try visibleLength(queue, now: now)
        if let destination = policy?.deadLetter {
            _ = try visibleLength(destination, now: now)
        }
        policies[queue] = policy
        record(.policy(queue: queue, policy: policy))
        return self.policy(of: queue)
    }
}
