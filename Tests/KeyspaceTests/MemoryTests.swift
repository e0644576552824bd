import KeygateTestSupport
import Testing

@testable import Keyspace

/// The memory limit: what is counted, and which keys each policy evicts.
@Suite("Memory: accounting and eviction")
struct MemoryTests {
    static let start = Timestamp(milliseconds: 1_000_000)

    static func value(_ size: Int = 32) -> Payload {
        Payload(bytes: [UInt8](repeating: 7, count: size))
    }

    /// The bytes one key of `key.count` bytes with a `size`-byte value (default media type)
    /// takes by the engine's count.
    static func cost(key: String, size: Int = 32, deadline: Bool = false) throws -> Int {
        let record = StringRecord.make(key: try Key(key), value: value(size))
        return record.allocatedBytes + MemoryCost.keyIndex + (deadline ? MemoryCost.deadline : 0)
    }

    /// A state whose limit holds `keys` keys named `k000`… with `size`-byte values.
    static func state(holding keys: Int, _ policy: EvictionPolicy, deadline: Bool = false, size: Int = 32)
        throws -> KeyspaceState
    {
        // The TinyLFU sketch counts against the limit: room for it too.
        let data = keys * (try cost(key: "k000", size: size, deadline: deadline))
        let sketch = MemoryBudget(limit: data, policy: policy).sketchBytes
        return KeyspaceState(memory: MemoryBudget(limit: data + sketch, policy: policy))
    }

    static func name(_ index: Int) -> String {
        "k" + String(index).leftPadded(to: 3)
    }

    static func changes(_ state: inout KeyspaceState) -> [KeyspaceChange] {
        var taken: [KeyspaceChange] = []
        while let change = state.takeChange() {
            taken.append(change)
        }
        return taken
    }

    static func evicted(_ changes: [KeyspaceChange]) -> [String] {
        changes.compactMap { change in
            if case .evict(let key) = change { key.text } else { nil }
        }
    }

    static func keys(_ state: KeyspaceState) -> Set<String> {
        Set(
            state.page(prefix: [], after: nil, limit: 10_000, scanBudget: 10_000, now: start).keys.map(
                \.key.text))
    }

    @Test func theCountFollowsEveryKeyAndReturnsToZero() throws {
        var state = KeyspaceState()
        let now = Self.start
        #expect(state.memory.used == 0)
        _ = try state.write(Self.value(), forKey: Key("a"), deadline: nil, condition: .always, now: now)
        #expect(state.memory.used == (try Self.cost(key: "a")))
        _ = try state.write(
            Self.value(100), forKey: Key("a"), deadline: now + .seconds(60), condition: .always, now: now)
        #expect(state.memory.used == (try Self.cost(key: "a", size: 100, deadline: true)))
        _ = state.setDeadline(nil, forKey: try Key("a"), now: now)
        #expect(state.memory.used == (try Self.cost(key: "a", size: 100)))
        _ = try state.push(Self.value(10), to: Key("q"), delay: nil, now: now)
        _ = try state.push(Self.value(2000), to: Key("q"), delay: nil, now: now)
        #expect(state.isConsistent)
        let withQueue = state.memory.used
        _ = try state.consume(.pop, from: [Key("q")], registering: nil, waitingAtMost: 1, now: now)
        #expect(state.memory.used == withQueue - MemoryCost.message(Self.value(10)))
        #expect(state.isConsistent)
        _ = try state.consume(.pop, from: [Key("q")], registering: nil, waitingAtMost: 1, now: now)
        _ = try state.delete(Key("a"), ofType: .string, condition: .always, now: now)
        #expect(state.memory.used == 0)
        #expect(state.count == 0)
    }

    @Test func theTinyLFUSketchCountsAgainstTheLimit() throws {
        // One 8-byte word per 256 bytes of limit, rounded up to a power of two.
        #expect(MemoryBudget(limit: 1 << 20, policy: .allKeysTinyLFU).used == 4096 * 8)
        #expect(MemoryBudget(limit: (1 << 20) + 256, policy: .allKeysTinyLFU).used == 8192 * 8)
        #expect(MemoryBudget(limit: 1 << 20, policy: .allKeysLRU).used == 0)
        var state = KeyspaceState(memory: MemoryBudget(limit: 1 << 20, policy: .allKeysTinyLFU))
        _ = try state.write(
            Self.value(), forKey: Key("a"), deadline: nil, condition: .always, now: Self.start)
        _ = try state.delete(Key("a"), ofType: .string, condition: .always, now: Self.start)
        #expect(state.memory.used == 4096 * 8)
        #expect(state.isConsistent)
    }

    @Test func leasedAndDelayedMessagesAreCountedUntilTheyLeave() throws {
        var state = KeyspaceState()
        let now = Self.start
        let queue = try Key("jobs")
        _ = try state.push(Self.value(10), to: queue, delay: nil, now: now)
        let visible = state.memory.used
        #expect(visible == KeyspaceState.emptyQueueCost(queue) + MemoryCost.message(Self.value(10)))
        // A lease counts its entry and its timer instead of its place in line.
        let grants = state.leaseFirstVisible(1, of: queue, until: now + .seconds(30))
        #expect(grants.count == 1)
        #expect(
            state.memory.used == visible - MemoryCost.message(Self.value(10))
                + MemoryCost.leased(Self.value(10)))
        #expect(state.isConsistent)
        // A delayed message counts its entry and its timer.
        _ = try state.push(Self.value(100), to: queue, delay: .seconds(5), now: now)
        let withDelayed = state.memory.used
        #expect(
            withDelayed == KeyspaceState.emptyQueueCost(queue) + MemoryCost.leased(Self.value(10))
                + MemoryCost.delayed(Self.value(100)))
        #expect(state.isConsistent)
        // The delay ends: the message is in line.
        _ = state.expireDue(now: now + .seconds(6), limit: 10)
        #expect(
            state.memory.used == withDelayed - MemoryCost.delayed(Self.value(100))
                + MemoryCost.message(Self.value(100)))
        #expect(state.isConsistent)
        _ = try state.consume(.pop, from: [queue], registering: nil, waitingAtMost: 1, now: now + .seconds(6))
        let statuses = try state.acknowledge(
            grants.map { LeaseReference(message: $0.message.id, lease: $0.number) }, in: queue,
            now: now + .seconds(6))
        #expect(statuses == [.acknowledged])
        #expect(state.memory.used == 0)
        #expect(state.count == 0)
        #expect(state.isConsistent)
    }

    @Test func aPushIsRefusedWhenOnlyQueuesHoldTheMemoryEvenWithMessagesLeased() throws {
        let queue = try Key("jobs")
        let limit = KeyspaceState.emptyQueueCost(queue) + 3 * MemoryCost.leased(Self.value())
        var state = KeyspaceState(memory: MemoryBudget(limit: limit, policy: .allKeysLRU))
        for _ in 0..<3 {
            _ = try state.push(Self.value(), to: queue, delay: nil, now: Self.start)
        }
        _ = state.leaseFirstVisible(3, of: queue, until: Self.start + .seconds(30))
        #expect(state.memory.used == limit)
        #expect(throws: KeyspaceError.self) {
            _ = try state.push(Self.value(), to: queue, delay: nil, now: Self.start)
        }
        #expect(throws: KeyspaceError.self) {
            _ = try state.push(Self.value(), to: queue, delay: .seconds(1), now: Self.start)
        }
        #expect(state.length(of: queue) == 3)
        #expect(state.isConsistent)
    }

    @Test func aMoveThatCreatesItsDestinationEvictsForItAndIsNeverRefused() throws {
        let (source, destination) = (try Key("jobs"), try Key("done"))
        let queueBytes = KeyspaceState.emptyQueueCost(source) + MemoryCost.message(Self.value())
        var state = KeyspaceState(
            memory: MemoryBudget(limit: 10 * (try Self.cost(key: "k000")) + queueBytes, policy: .allKeysLRU))
        _ = try state.push(Self.value(), to: source, delay: nil, now: Self.start)
        for index in 0..<10 {
            _ = try state.write(
                Self.value(), forKey: Key(Self.name(index)), deadline: nil, condition: .always,
                now: Self.start)
        }
        _ = try state.push(Self.value(), to: source, delay: nil, now: Self.start)
        _ = Self.changes(&state)
        // The first message's move creates `done`: a string goes for it.
        _ = try state.consume(
            .move(to: destination), from: [source], registering: nil, waitingAtMost: 1, now: Self.start)
        #expect(!Self.evicted(Self.changes(&state)).isEmpty)
        #expect(state.length(of: destination) == 1)
        #expect(state.memory.used <= state.memory.limit ?? 0)
        #expect(state.isConsistent)
        // With only queues left, a move is not refused: its new queue is held over the limit.
        var queues = KeyspaceState(memory: MemoryBudget(limit: queueBytes, policy: .allKeysLRU))
        _ = try queues.push(Self.value(), to: source, delay: nil, now: Self.start)
        let outcome = try queues.consume(
            .move(to: destination), from: [source], registering: nil, waitingAtMost: 1, now: Self.start)
        guard case .handed(.moved) = outcome else {
            Issue.record("the move answered \(outcome)")
            return
        }
        #expect(queues.length(of: destination) == 1)
        #expect(queues.isConsistent)
    }

    @Test func aStringKeyCostsOneAllocationAndItsIndexes() throws {
        // A 10-byte key and a 32-byte value: 27 bytes of header and 16 of object header, one
        // 96-byte chunk; 28 bytes of indexes; 20 more with a deadline.
        #expect(try Self.cost(key: "key:000001") == 96 + 28)
        #expect(try Self.cost(key: "key:000001", deadline: true) == 96 + 48)
    }

    @Test func noEvictionRefusesTheWriteAndChangesNothing() throws {
        var state = try Self.state(holding: 10, .noEviction)
        for index in 0..<10 {
            _ = try state.write(
                Self.value(), forKey: Key(Self.name(index)), deadline: nil, condition: .always,
                now: Self.start)
        }
        _ = Self.changes(&state)
        let used = state.memory.used
        #expect(
            throws: KeyspaceError.memoryFull(
                used: used, limit: state.memory.limit!, needed: try Self.cost(key: "k010"))
        ) {
            try state.write(
                Self.value(), forKey: Key("k010"), deadline: nil, condition: .always, now: Self.start)
        }
        #expect(Self.changes(&state).isEmpty)
        #expect(state.memory.used == used)
        #expect(state.count == 10)
        // Smaller or equal values still fit, reads, deletes and pops go on.
        _ = try state.write(
            Self.value(), forKey: Key("k000"), deadline: nil, condition: .always, now: Self.start)
        #expect(try state.delete(Key("k001"), ofType: .string, condition: .always, now: Self.start))
        _ = try state.write(
            Self.value(), forKey: Key("k010"), deadline: nil, condition: .always, now: Self.start)
        #expect(state.memory.evicted == 0)
    }

    @Test(arguments: EvictionPolicy.allCases.filter { $0 != .noEviction })
    func usageNeverPassesTheLimitAndEachEvictionIsRecorded(policy: EvictionPolicy) throws {
        var state = try Self.state(holding: 50, policy, deadline: true)
        let limit = try #require(state.memory.limit)
        var evicted: [String] = []
        for index in 0..<300 {
            _ = try state.write(
                Self.value(), forKey: Key(Self.name(index)),
                deadline: Self.start + .seconds(Int64(1000 + index)),
                condition: .always, now: Self.start)
            #expect(state.memory.used <= limit)
            evicted += Self.evicted(Self.changes(&state))
        }
        #expect(state.isConsistent)
        // Every key written is either held or was evicted, once.
        #expect(Set(evicted).count == evicted.count)
        #expect(Self.keys(state).union(evicted) == Set((0..<300).map(Self.name)))
        #expect(state.memory.evicted == UInt64(evicted.count))
    }

    @Test(arguments: EvictionPolicy.allCases.filter { $0 != .noEviction })
    func queuesAreNeverEvicted(policy: EvictionPolicy) throws {
        var state = try Self.state(holding: 40, policy, deadline: true)
        for index in 0..<5 {
            _ = try state.push(Self.value(), to: Key("queue\(index)"), delay: nil, now: Self.start)
            _ = state.setDeadline(Self.start + .seconds(1), forKey: try Key("queue\(index)"), now: Self.start)
        }
        for index in 0..<200 {
            // Strings are left to evict: no write is refused.
            _ = try state.write(
                Self.value(), forKey: Key(Self.name(index)), deadline: Self.start + .seconds(2000),
                condition: .always, now: Self.start)
        }
        #expect((0..<5).allSatisfy { Self.keys(state).contains("queue\($0)") })
        // With nothing left but queues, a push is refused like any write.
        var full = try Self.state(holding: 4, policy)
        _ = try full.push(Self.value(), to: Key("jobs"), delay: nil, now: Self.start)
        _ = try full.push(Self.value(), to: Key("jobs"), delay: nil, now: Self.start)
        #expect(throws: KeyspaceError.self) {
            for _ in 0..<20 {
                _ = try full.push(Self.value(), to: Key("jobs"), delay: nil, now: Self.start)
            }
        }
        #expect(full.isConsistent)
    }

    @Test(arguments: [EvictionPolicy.volatileLRU, .volatileLFU, .volatileTTL])
    func volatilePoliciesKeepPersistentKeysAndRefuseWhenOnlyTheyAreLeft(policy: EvictionPolicy) throws {
        var state = try Self.state(holding: 20, policy, deadline: true)
        for index in 0..<10 {
            _ = try state.write(
                Self.value(), forKey: Key("persistent\(index)"), deadline: nil, condition: .always,
                now: Self.start)
        }
        for index in 0..<100 {
            _ = try state.write(
                Self.value(), forKey: Key(Self.name(index)), deadline: Self.start + .seconds(100),
                condition: .always, now: Self.start)
        }
        let held = Self.keys(state)
        #expect((0..<10).allSatisfy { held.contains("persistent\($0)") })
        // Only persistent keys: the write is refused, and nothing changes.
        var persistent = try Self.state(holding: 5, policy)
        for index in 0..<5 {
            _ = try persistent.write(
                Self.value(), forKey: Key(Self.name(index)), deadline: nil, condition: .always,
                now: Self.start)
        }
        _ = Self.changes(&persistent)
        #expect(throws: KeyspaceError.self) {
            try persistent.write(
                Self.value(), forKey: Key("more"), deadline: nil, condition: .always, now: Self.start)
        }
        #expect(Self.changes(&persistent).isEmpty)
        #expect(persistent.count == 5)
    }

    @Test func volatileTTLEvictsTheNearestDeadlineFirst() throws {
        var state = try Self.state(holding: 10, .volatileTTL, deadline: true)
        // Deadlines in a shuffled order: 10 keys, key i expiring at 100 + i seconds.
        for index in [3, 7, 1, 9, 0, 5, 2, 8, 4, 6] {
            _ = try state.write(
                Self.value(), forKey: Key(Self.name(index)),
                deadline: Self.start + .seconds(Int64(100 + index)),
                condition: .always, now: Self.start)
        }
        _ = Self.changes(&state)
        for index in 10..<15 {
            _ = try state.write(
                Self.value(), forKey: Key(Self.name(index)),
                deadline: Self.start + .seconds(Int64(1000 + index)),
                condition: .always, now: Self.start)
        }
        #expect(Self.evicted(Self.changes(&state)) == (0..<5).map(Self.name))
    }

    /// Hot keys, read before every new write, survive a stream of new keys.
    @Test(arguments: [EvictionPolicy.allKeysLRU, .allKeysLFU, .allKeysTinyLFU])
    func hotKeysStay(policy: EvictionPolicy) throws {
        var state = try Self.state(holding: 100, policy)
        for index in 0..<100 {
            _ = try state.write(
                Self.value(), forKey: Key(Self.name(index)), deadline: nil, condition: .always,
                now: Self.start)
        }
        let hot = (0..<5).map(Self.name)
        for round in 0..<30 {
            for key in hot {
                _ = try state.read(Key(key), now: Self.start)
            }
            for index in 0..<10 {
                _ = try state.write(
                    Self.value(), forKey: Key("new\(round)-\(index)"), deadline: nil, condition: .always,
                    now: Self.start)
            }
        }
        let held = Self.keys(state)
        #expect(hot.allSatisfy(held.contains))
        #expect(state.memory.evicted >= 290)
        #expect(state.isConsistent)
    }

    @Test func tinyLFUTurnsAwayANewKeyReadLessThanItsVictim() throws {
        // Values of 8 KiB give the sketch 512 words (one per 256 bytes of limit, rounded up to
        // a power of two) for these twelve keys. With 32-byte values it had its least, 8, and
        // in about one process in 40 (hashes are seeded per process) the new key's four
        // counters all fell on counters of keys read three times, and it was let in.
        let size = 8192
        var state = try Self.state(holding: 10, .allKeysTinyLFU, size: size)
        for index in 0..<10 {
            _ = try state.write(
                Self.value(size), forKey: Key(Self.name(index)), deadline: nil, condition: .always,
                now: Self.start)
            for _ in 0..<3 {
                _ = try state.read(Key(Self.name(index)), now: Self.start)
            }
        }
        _ = Self.changes(&state)
        let outcome = try state.write(
            Self.value(size), forKey: Key("once"), deadline: nil, condition: .always, now: Self.start)
        guard case .created = outcome else {
            Issue.record("the write answered \(outcome)")
            return
        }
        let changes = Self.changes(&state)
        #expect(Self.evicted(changes) == ["once"])
        #expect(state.count == 10)
        #expect(state.isConsistent)
        // Read often enough (misses count), it gets in.
        for _ in 0..<5 {
            _ = try state.read(Key("often"), now: Self.start)
        }
        _ = try state.write(
            Self.value(size), forKey: Key("often"), deadline: nil, condition: .always, now: Self.start)
        #expect(Self.keys(state).contains("often"))
    }

    @Test func aLargeValueEvictsInSeveralStepsThroughTheEngine() throws {
        let small = try Self.cost(key: "k000")
        let keyspace = KeyspaceEngine(
            clock: ManualClock(), memoryLimit: 500 * small, evictionPolicy: .allKeysLRU)
        for index in 0..<500 {
            _ = try keyspace.setValue(
                Self.value(), forKey: Key(Self.name(index)), timeToLive: nil, condition: .always)
        }
        // Needs some 300 evictions: five steps of 64.
        _ = try keyspace.setValue(
            Self.value(300 * small), forKey: Key("large"), timeToLive: nil, condition: .always)
        let status = try #require(keyspace.memoryStatus)
        #expect(status.used <= 500 * small)
        #expect(status.evicted >= 290)
        #expect(try keyspace.value(forKey: Key("large")) != nil)
        #expect(keyspace.isConsistent)
        let events = keyspace.events(
            after: EventPosition(id: 0), matching: EventFilter(types: [.evicted]), limit: 10_000
        ).events
        #expect(UInt64(events.count) == status.evicted)
    }

    @Test func aValueLargerThanTheLimitIsRefused() throws {
        let keyspace = KeyspaceEngine(clock: ManualClock(), memoryLimit: 10_000, evictionPolicy: .allKeysLRU)
        _ = try keyspace.setValue(Self.value(), forKey: Key("a"), timeToLive: nil, condition: .always)
        #expect(throws: KeyspaceError.self) {
            try keyspace.setValue(Self.value(20_000), forKey: Key("b"), timeToLive: nil, condition: .always)
        }
        #expect(try keyspace.value(forKey: Key("a")) != nil)
        #expect(keyspace.memoryStatus?.evicted == 0)
    }

    @Test func aRestartWithALowerLimitEvictsWhileLoadingAndTheEvictionsAreLogged() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let persistence = PersistenceConfiguration(directory: directory.path)
        let first = try KeyspaceEngine.open(persistence: persistence, clock: clock)
        for index in 0..<100 {
            _ = try first.setValue(
                Self.value(), forKey: Key(Self.name(index)), timeToLive: nil, condition: .always)
        }
        let lastEventID = first.lastEventID
        first.stop()
        let limit = 40 * (try Self.cost(key: "k000"))
        let second = try KeyspaceEngine.open(
            persistence: persistence, clock: clock, memoryLimit: limit, evictionPolicy: .allKeysLRU)
        let status = try #require(second.memoryStatus)
        #expect(status.used <= limit)
        #expect(second.count == 40)
        #expect(second.recovery?.evictedKeys == 60)
        let events = second.events(
            after: EventPosition(id: lastEventID), matching: EventFilter(), limit: 1000
        ).events
        #expect(events.count == 60 && events.allSatisfy { $0.type == .evicted })
        let held = Set(second.keys(prefix: [], after: nil, limit: 1000).keys.map(\.key.text))
        #expect(Set(events.map(\.key.text)).isDisjoint(with: held))
        second.stop()
        // Without a limit, the evicted keys stay gone.
        let third = try KeyspaceEngine.open(persistence: persistence, clock: clock)
        defer { third.stop() }
        #expect(third.count == 40)
        #expect(Set(third.keys(prefix: [], after: nil, limit: 1000).keys.map(\.key.text)) == held)
    }

    @Test func theLFUCounterStartsAtFiveAndLosesOnePerMinute() {
        #expect(LogarithmicCounter.decayed(LogarithmicCounter.initial(now: Self.start), now: Self.start) == 5)
        #expect(
            LogarithmicCounter.decayed(
                LogarithmicCounter.initial(now: Self.start), now: Self.start + .seconds(180)) == 2)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
