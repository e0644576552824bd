import func Synchronization.atomicMemoryFence

/// The log being appended to, mapped into memory: appending a record is a copy into the
/// mapping, with no system call. What is copied there is in the system's page cache at once, so
/// a crash of the process loses none of it; `fdatasync` on the file forces it to disk.
///
/// The file's blocks are allocated ahead (`posix_fallocate`), so that a copy can never fault
/// for want of space; the zeros after the last record are the log's end to start-up, and a
/// clean stop cuts them off. Not `Sendable`: it lives in the journal's locked state.
final class LogMapping {
    /// The first size of a log (1 MiB); each growth doubles it, by 64 MiB at most.
    static let initialCapacity = 1 << 20
    private static let largestGrowth = 64 << 20

    /// The file.
    let file: SystemFile
    /// The log's generation.
    let generation: UInt64
    /// The mapping; `nil` only if a remap failed and the old size could not be mapped again.
    private var base: UnsafeMutableRawPointer?
    /// The bytes allocated and mapped.
    private(set) var capacity: Int
    /// The bytes of whole records, from the start of the file.
    private(set) var used: Int

    /// Maps `file`, whose first `used` bytes are records, allocating room for more.
    init(file: SystemFile, generation: UInt64, used: Int) throws(PersistenceError) {
        self.file = file
        self.generation = generation
        self.used = used
        capacity = Self.capacity(after: max(try file.size(), Self.initialCapacity), fitting: used)
        try file.allocate(size: capacity)
        base = try file.map(length: capacity)
    }

    deinit {
        if let base {
            SystemFile.unmap(base, length: capacity)
        }
    }

    /// The room left.
    var spare: Int { capacity - used }

    /// Whether the room left is under half the log, or under one growth: time to grow ahead,
    /// which keeps at most as much allocated and unused.
    var isRunningLow: Bool { spare < min(capacity / 2, Self.largestGrowth) }

    /// Copies framed records after the last record; `false` when they do not fit. O(bytes).
    ///
    /// A record's body is copied before its 8-byte header, which goes in one store: a crash in
    /// the middle leaves a header of zeros, which start-up reads as the end, never a header
    /// whose body is cut short. (Several records at once are only copied in by the syncer, and
    /// each copy of them is a first record's header-last write of the whole.)
    func append(_ records: [UInt8]) -> Bool {
        guard let base, records.count <= spare else { return false }
        let headerSize = RecordFraming.headerSize
        precondition(records.count > headerSize, "a framed record has a body")
        records.withUnsafeBytes { source in
            let destination = base + used
            (destination + headerSize).copyMemory(
                from: source.baseAddress! + headerSize, byteCount: source.count - headerSize)
            // The compiler must not move the header's store before the body's.
            atomicMemoryFence(ordering: .releasing)
            destination.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
        }
        used += records.count
        return true
    }

    /// The capacity the next growth gives, for `extra` more bytes.
    func nextCapacity(fitting extra: Int) -> Int {
        Self.capacity(after: capacity, fitting: used + extra)
    }

    /// Maps `newCapacity` bytes, which `file.allocate(size:)` has allocated, instead of the
    /// current ones.
    ///
    /// The old mapping goes before the new one is made, so that every page written through it
    /// is in the file when the new one maps it, however the system treats two mappings of one
    /// file. If the new one cannot be made, the old size is mapped again and the error thrown;
    /// if even that fails, the log takes no more records (every append finds no room).
    func remap(to newCapacity: Int) throws(PersistenceError) {
        guard let old = base else { throw .unavailable(reason: "the log could not be mapped again") }
        guard newCapacity > capacity else { return }
        SystemFile.unmap(old, length: capacity)
        base = nil
        do {
            base = try file.map(length: newCapacity)
            capacity = newCapacity
        } catch {
            // The error that matters is the first one, thrown below.
            base = try? file.map(length: capacity)
            if base == nil {
                capacity = used
            }
            throw error
        }
    }

    /// Grows the log to fit `extra` more bytes: allocates, then maps. Blocks on the disk.
    func grow(fitting extra: Int) throws(PersistenceError) {
        let newCapacity = nextCapacity(fitting: extra)
        try file.allocate(size: newCapacity)
        try remap(to: newCapacity)
    }

    /// Cuts off the room allocated after the last record; on a clean stop.
    func trim() throws(PersistenceError) {
        try file.truncate(to: used)
    }

    private static func capacity(after current: Int, fitting needed: Int) -> Int {
        var capacity = current
        while capacity < needed {
            capacity += min(capacity, largestGrowth)
        }
        return capacity
    }
}
