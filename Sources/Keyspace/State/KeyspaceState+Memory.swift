import Plumbing

extension KeyspaceState {
    /// Whether a new key may stay: `allkeys-tinylfu` turns away one read less often than the
    /// key it would evict.
    enum Admission {
        case admitted
        case rejected
    }

    /// Makes room for `needed` more bytes under the limit, evicting by the policy; `keeping`
    /// is the key being written, which is never the victim. For a new key (`newKeyHash`), the
    /// TinyLFU policy may answer `.rejected` instead: the key's reads are fewer than its
    /// victim's, so it is not kept and nothing is evicted.
    ///
    /// Throws `.memoryFull`, having evicted nothing, when even evicting every key the policy
    /// may evict would not make room (and with `noeviction`). Evicts at most
    /// `MemoryBudget.evictionsPerStep` keys; then throws with `memory.isInterrupted` set, for the
    /// engine to release the lock and run the write again. O(evictions × (log n + samples)).
    mutating func makeRoom(for needed: Int, newKeyHash: UInt32?, keeping: UInt32?, now: Timestamp)
        throws(KeyspaceError) -> Admission
    {
        guard let limit = memory.limit, needed > 0, memory.used + needed > limit else { return .admitted }
        let keptBytes = keeping.map { Self.cost(of: entries[$0]) } ?? 0
        let reachable = memory.used - memory.evictableBytes + (isEvictable(keeping) ? keptBytes : 0)
        guard reachable + needed <= limit else {
            throw .memoryFull(used: memory.used, limit: limit, needed: needed)
        }
        var evictions = 0
        while memory.used + needed > limit {
            guard evictions < MemoryBudget.evictionsPerStep else {
                memory.isInterrupted = true
                throw .memoryFull(used: memory.used, limit: limit, needed: needed)
            }
            guard let victim = chooseVictim(keeping: keeping, now: now) else {
                throw .memoryFull(used: memory.used, limit: limit, needed: needed)
            }
            if evictions == 0, let newKeyHash, memory.policy == .allKeysTinyLFU,
                memory.frequency(newKeyHash) < memory.frequency(entries.slotHash(victim))
            {
                return .rejected
            }
            evict(victim)
            evictions += 1
        }
        return .admitted
    }

    /// Evicts keys until the bytes held are within the limit, nothing more may be evicted, or
    /// `count` keys are gone: after start-up, when a lower limit finds more data, and after
    /// work moving on (a move, a dead letter), which is never refused, grew a queue or created
    /// one. O(evictions × (log n + samples)).
    mutating func evictToLimit(atMost count: Int = .max, now: Timestamp) {
        guard let limit = memory.limit, memory.policy != .noEviction else { return }
        var evictions = 0
        while memory.used > limit, evictions < count, let victim = chooseVictim(keeping: nil, now: now) {
            evict(victim)
            evictions += 1
        }
    }

    /// Removes the key in slot `index` for room. O(log n).
    private mutating func evict(_ index: UInt32) {
        let key = entries[index].key
        remove(index)
        record(.evict(key: key))
        memory.evicted += 1
    }

    /// Whether the policy may evict the key in slot `index`.
    private func isEvictable(_ index: UInt32?) -> Bool {
        guard let index else { return false }
        return entries.holdsString(at: index, withDeadline: memory.policy.isVolatileOnly)
    }

    /// The key to evict next, but `keeping`; `nil` when the policy finds none.
    ///
    /// `volatile-ttl` takes the nearest deadline from the expiry heap; `allkeys-random` one
    /// random key; the others sample `MemoryBudget.samples` keys (among those with a TTL for
    /// volatile policies, from the expiry heap's storage) into the pool of candidates and take
    /// the pool's worst by the policy's score, read again now. O(samples + pool).
    private mutating func chooseVictim(keeping: UInt32?, now: Timestamp) -> UInt32? {
        switch memory.policy {
        case .noEviction:
            return nil
        case .volatileTTL:
            if let first = deadlines.first?.element, isCandidate(first, keeping: keeping) {
                return first
            }
            // The nearest is a queue or the key being written: the nearest of a sample.
            var best: (index: UInt32, deadline: Int64)?
            for _ in 0..<(MemoryBudget.samples * 4) {
                guard let index = sample(), isCandidate(index, keeping: keeping) else { continue }
                let deadline = entries[index].rawDeadline
                if best.map({ deadline < $0.deadline }) ?? true {
                    best = (index, deadline)
                }
            }
            return best?.index
        case .allKeysRandom:
            for _ in 0..<64 {
                if let index = sample(), isCandidate(index, keeping: keeping) {
                    return index
                }
            }
            return nil
        case .allKeysLRU, .volatileLRU, .allKeysLFU, .volatileLFU, .allKeysTinyLFU:
            return choosePooledVictim(keeping: keeping, now: now)
        }
    }

    /// The sampling policies' victim: `MemoryBudget.samples` keys join the pool of candidates,
    /// and the pool's worst by the policy's score, read again now, is taken. Plain loops over
    /// the pool: a closure reading the state would copy all of it. O(samples + pool).
    private mutating func choosePooledVictim(keeping: UInt32?, now: Timestamp) -> UInt32? {
        var pool = memory.pool
        memory.pool = []
        var found = 0
        var tries = 0
        while found < MemoryBudget.samples && tries < 16 * MemoryBudget.samples {
            tries += 1
            guard let index = sample(), isCandidate(index, keeping: keeping) else { continue }
            found += 1
            let candidate = MemoryBudget.Candidate(index: index, hash: entries.slotHash(index))
            if !pool.contains(candidate) {
                pool.append(candidate)
            }
        }
        // Candidates whose slot now holds another key, or one no longer evictable, leave.
        var scored: [(candidate: MemoryBudget.Candidate, badness: UInt64)] = []
        scored.reserveCapacity(pool.count)
        for candidate in pool
        where isCandidate(candidate.index, keeping: keeping)
            && entries.slotHash(candidate.index) == candidate.hash
        {
            let badness = memory.badness(meta: entries.meta(candidate.index), hash: candidate.hash, now: now)
            scored.append((candidate, badness))
        }
        guard !scored.isEmpty else { return nil }
        var worst = 0
        for position in scored.indices where scored[position].badness > scored[worst].badness {
            worst = position
        }
        let victim = scored.remove(at: worst).candidate.index
        if scored.count > MemoryBudget.poolSize {
            // Keep the worst: drop the best-scored candidates beyond the pool's size.
            scored.sort { $0.badness > $1.badness }
            scored.removeLast(scored.count - MemoryBudget.poolSize)
        }
        memory.pool = scored.map(\.candidate)
        return victim
    }

    /// Whether the key in slot `index` may be evicted now: not `keeping`, and evictable.
    private func isCandidate(_ index: UInt32, keeping: UInt32?) -> Bool {
        index != keeping && isEvictable(index)
    }

    /// A random key's slot: among all keys for the allkeys policies (the slab has no holes),
    /// among the keys with a deadline for the volatile ones; `nil` when there is none.
    private mutating func sample() -> UInt32? {
        if memory.policy.isVolatileOnly {
            guard !deadlines.isEmpty else { return nil }
            return deadlines.element(atPosition: memory.randomIndex(below: deadlines.count))
        }
        guard entries.count > 0 else { return nil }
        return UInt32(memory.randomIndex(below: entries.count))
    }
}
