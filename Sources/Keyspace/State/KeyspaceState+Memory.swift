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

    /// Evicts keys until the bytes held are within the limit, or nothing more may be evicted;
    /// after start-up, when a lower limit finds more data. O(evictions × (log n + samples)).
    mutating func evictToLimit(now: Timestamp) {
        guard let limit = memory.limit, memory.policy != .noEviction else { return }
        while memory.used > limit, let victim = chooseVictim(keeping: nil, now: now) {
            evict(victim)
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
        guard let index, let stored = entries.storedValue(at: index), stored.type == .string else {
            return false
        }
        return !memory.policy.isVolatileOnly || stored.rawDeadline != .max
    }

    /// The key to evict next, but `keeping`; `nil` when the policy finds none.
    ///
    /// `volatile-ttl` takes the nearest deadline from the expiry heap; `allkeys-random` one
    /// random key; the others sample `MemoryBudget.samples` keys (among those with a TTL for
    /// volatile policies, from the expiry heap's storage) into the pool of candidates and take
    /// the pool's worst by the policy's score, read again now. O(samples + pool).
    private mutating func chooseVictim(keeping: UInt32?, now: Timestamp) -> UInt32? {
        func isCandidate(_ index: UInt32) -> Bool {
            index != keeping && isEvictable(index)
        }
        switch memory.policy {
        case .noEviction:
            return nil
        case .volatileTTL:
            if let first = deadlines.first?.element, isCandidate(first) {
                return first
            }
            // The nearest is a queue or the key being written: the nearest of a sample.
            var best: (index: UInt32, deadline: Int64)?
            for _ in 0..<(MemoryBudget.samples * 4) {
                guard let index = sample(), isCandidate(index) else { continue }
                let deadline = entries[index].rawDeadline
                if best.map({ deadline < $0.deadline }) ?? true {
                    best = (index, deadline)
                }
            }
            return best?.index
        case .allKeysRandom:
            for _ in 0..<64 {
                if let index = sample(), isCandidate(index) {
                    return index
                }
            }
            return nil
        case .allKeysLRU, .volatileLRU, .allKeysLFU, .volatileLFU, .allKeysTinyLFU:
            var found = 0
            var tries = 0
            while found < MemoryBudget.samples && tries < 16 * MemoryBudget.samples {
                tries += 1
                guard let index = sample(), isCandidate(index) else { continue }
                found += 1
                let hash = entries.slotHash(index)
                if !memory.pool.contains(where: { $0.index == index && $0.hash == hash }) {
                    memory.pool.append(MemoryBudget.Candidate(index: index, hash: hash))
                }
            }
            // Candidates whose slot now holds another key, or one no longer evictable, leave.
            var pool = memory.pool
            pool.removeAll { candidate in
                !isCandidate(candidate.index) || entries.slotHash(candidate.index) != candidate.hash
            }
            memory.pool = pool
            guard !memory.pool.isEmpty else { return nil }
            let scores = memory.pool.map { candidate in
                memory.badness(meta: entries.meta(candidate.index), hash: candidate.hash, now: now)
            }
            var worst = 0
            for position in scores.indices where scores[position] > scores[worst] {
                worst = position
            }
            let victim = memory.pool.remove(at: worst).index
            if memory.pool.count > MemoryBudget.poolSize {
                // Keep the worst: drop the best-scored candidates beyond the pool's size.
                let kept = zip(memory.pool, scores.enumerated().filter { $0.offset != worst }.map(\.element))
                    .sorted { $0.1 > $1.1 }
                    .prefix(MemoryBudget.poolSize)
                memory.pool = kept.map(\.0)
            }
            return victim
        }
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
