/// The keyspace's memory: what it holds by `MemoryCost`'s count, the limit, and what the
/// eviction policy keeps to choose its victims. Part of `KeyspaceState`, changed under the
/// engine's lock.
///
/// Victims are chosen by sampling, never by scanning: a few random keys per eviction join a
/// pool of the 16 best candidates seen so far (as Redis does), whose scores are read again
/// before one is taken.
struct MemoryBudget {
    /// A candidate of the pool: a slot, and the hash of the key it held when sampled, which
    /// tells whether the slot still holds that key.
    struct Candidate: Equatable {
        var index: UInt32
        var hash: UInt32
    }

    /// Keys sampled per eviction, besides the pool (Redis's `maxmemory-samples` default).
    static let samples = 5
    /// The candidates kept between evictions.
    static let poolSize = 16
    /// Evictions one write makes under one hold of the lock; a write needing more releases
    /// the lock and takes it again to go on, so that others are served in between.
    static let evictionsPerStep = 64

    /// The bytes held, as `MemoryCost` counts them, and the policy's sketch.
    private(set) var used = 0
    /// The most bytes held; `nil` for no limit.
    let limit: Int?
    /// The policy.
    let policy: EvictionPolicy
    /// The keys evicted since start-up.
    var evicted: UInt64 = 0
    /// The bytes of the string keys (which may be evicted), and of those with a TTL.
    private(set) var stringBytes = 0
    private(set) var volatileStringBytes = 0
    /// Set when a write stopped evicting after `evictionsPerStep`: the engine then lets go of
    /// the lock and runs the write again.
    var isInterrupted = false
    /// The candidates.
    var pool: [Candidate] = []
    /// The reads of keys lately; for `allkeys-tinylfu` only.
    private(set) var sketch: FrequencySketch?
    /// A logical clock of accesses, for the LRU policies' ages.
    private var accessClock: UInt32 = 0
    private var random = SplitMix64(seed: UInt64.random(in: .min ... .max))

    /// No limit: bytes are counted, nothing is evicted.
    init() {
        limit = nil
        policy = .default
    }

    /// A budget of `limit` bytes (none when `nil`) kept by `policy`.
    init(limit: Int?, policy: EvictionPolicy) {
        self.limit = limit
        self.policy = policy
        if let limit, policy == .allKeysTinyLFU {
            // One word of 16 counters per 256 bytes of limit, rounded up to a power of two:
            // about one word per two keys of some 128 bytes. A sketch a quarter that size
            // shared each word among eight keys, and its estimates lost 0.6 to 1.6 points of
            // hit ratio in Benchmarks/memory's traces; one twice this size gains 0.2 at most,
            // less than the keys its bytes would hold. Halved after ten reads per key the
            // limit holds (Caffeine's period): a shorter period forgets the tail of a Zipf
            // popularity before it can count.
            let sketch = FrequencySketch(wordCount: limit / 256, period: limit / 128 * 10)
            self.sketch = sketch
            // The sketch is memory the cache holds: it counts against the limit.
            used = sketch.bytes
        }
    }

    /// Whether the policy keeps track of accesses: a limit is set and it is not `noeviction`.
    var isTracking: Bool { limit != nil && policy != .noEviction }

    /// The heap bytes of the sketch, counted in `used`.
    var sketchBytes: Int { sketch?.bytes ?? 0 }

    /// Notes `bytes` more (or fewer, when negative) held by a key; `isString` and `isVolatile`
    /// say which sums it counts in.
    mutating func add(_ bytes: Int, isString: Bool, isVolatile: Bool) {
        used += bytes
        if isString {
            stringBytes += bytes
            if isVolatile {
                volatileStringBytes += bytes
            }
        }
    }

    /// The bytes the policy could free by evicting every key it may evict.
    var evictableBytes: Int {
        switch policy {
        case .noEviction: 0
        case .volatileLRU, .volatileLFU, .volatileTTL: volatileStringBytes
        case .allKeysLRU, .allKeysLFU, .allKeysRandom, .allKeysTinyLFU: stringBytes
        }
    }

    /// The policy's word for a key just stored.
    mutating func initialMeta(now: Timestamp) -> UInt32 {
        switch policy {
        case .allKeysLFU, .volatileLFU: LogarithmicCounter.initial(now: now)
        default: tick()
        }
    }

    /// The policy's word for a key just accessed, from its word `meta`.
    mutating func touched(_ meta: UInt32, now: Timestamp) -> UInt32 {
        switch policy {
        case .allKeysLFU, .volatileLFU:
            LogarithmicCounter.incremented(meta, now: now, random: random.nextUnit())
        default: tick()
        }
    }

    /// Counts a read of the key with `hash`, held or not.
    mutating func noteRead(_ hash: UInt32) {
        sketch?.increment(hash)
    }

    /// The estimated reads of the key with `hash` (0 without a sketch).
    func frequency(_ hash: UInt32) -> Int {
        sketch?.frequency(hash) ?? 0
    }

    /// How much a key with word `meta` and `hash` deserves eviction: the higher, the sooner.
    func badness(meta: UInt32, hash: UInt32, now: Timestamp) -> UInt64 {
        switch policy {
        case .allKeysLRU, .volatileLRU:
            return UInt64(accessClock &- meta)
        case .allKeysLFU, .volatileLFU:
            return UInt64(255 - LogarithmicCounter.decayed(meta, now: now))
        case .allKeysTinyLFU:
            // The least read first; among equals, the least recently used.
            return UInt64(15 - frequency(hash)) << 32 | UInt64(accessClock &- meta)
        case .noEviction, .volatileTTL, .allKeysRandom:
            return 0
        }
    }

    /// A random number below `bound`, which is positive.
    mutating func randomIndex(below bound: Int) -> Int {
        Int(random.next() % UInt64(bound))
    }

    private mutating func tick() -> UInt32 {
        accessClock &+= 1
        return accessClock
    }
}

/// A small, fast generator (Steele, Lea and Flood's SplitMix64) for sampling victims.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    /// A generator starting at `seed`.
    init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A number in [0, 1).
    mutating func nextUnit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}

/// Redis's LFU counter in a 32-bit word: the minutes (mod 65 536) of the last decay above, an
/// 8-bit counter that grows logarithmically below, losing one per minute without access.
enum LogarithmicCounter {
    /// Where a new key starts, so that it is not evicted before it could be read (Redis's
    /// `LFU_INIT_VAL`).
    static let initialCount: UInt32 = 5
    /// Redis's `lfu-log-factor` default.
    static let factor = 10.0

    /// The word of a key stored at `now`.
    static func initial(now: Timestamp) -> UInt32 {
        minutes(now) << 8 | initialCount
    }

    /// The counter of `meta` at `now`, decayed by the minutes since it was last touched.
    static func decayed(_ meta: UInt32, now: Timestamp) -> UInt32 {
        let elapsed = (minutes(now) &- (meta >> 8)) & 0xFFFF
        let counter = meta & 0xFF
        return counter > elapsed ? counter - elapsed : 0
    }

    /// The word after an access at `now`; `random` is uniform in [0, 1).
    static func incremented(_ meta: UInt32, now: Timestamp, random: Double) -> UInt32 {
        var counter = decayed(meta, now: now)
        if counter < 255 {
            let base = Double(counter > initialCount ? counter - initialCount : 0)
            if random < 1 / (base * factor + 1) {
                counter += 1
            }
        }
        return minutes(now) << 8 | counter
    }

    private static func minutes(_ now: Timestamp) -> UInt32 {
        UInt32(truncatingIfNeeded: now.milliseconds / 60_000) & 0xFFFF
    }
}
