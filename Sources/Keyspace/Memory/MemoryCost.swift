/// How the keyspace counts the bytes it holds: the sizes of its allocations as glibc's malloc
/// rounds them, and the per-key share of its indexes.
///
/// The figures are the engine's own accounting, not the process's resident size: they leave out
/// the allocator's free lists, the event history and the server's buffers (see README,
/// "Memory").
enum MemoryCost {
    /// The bytes of a Swift object's header: its type and reference count.
    static let objectHeader = 16
    /// The bytes of a Swift array's header before its elements.
    static let arrayHeader = 32
    /// Each key's share of the indexes: a 16-byte slot in the entry slab, a 4-byte place in the
    /// ordered index and about 8 bytes of hash-table bucket (4 bytes at a load of a half).
    static let keyIndex = 28
    /// A deadline's share of the expiry heap: a 16-byte node and a 4-byte handle slot.
    static let deadline = 20
    /// A queue message's place in its queue's line: its id, place, bytes reference, media type,
    /// time pushed and attempts.
    static let message = 56
    /// A leased message's entry among its queue's leases instead of its place in line: its id
    /// as key, the message, the lease's number, deadline and timer handle, at a hash table's
    /// load of about three quarters.
    static let lease = 128
    /// A delayed message's entry among its queue's delayed ones instead of its place in line:
    /// its id as key, the message, its moment and timer handle, at a load of three quarters.
    static let delayedMessage = 120
    /// A lease's or a delay's node in the message timers' heap (queue, id, deadline) and its
    /// handle's slot.
    static let messageTimer = 32

    /// The heap bytes a `malloc(requested)` takes: its 8-byte chunk header, rounded up to 16,
    /// and at least 32.
    @inline(__always)
    static func allocation(_ requested: Int) -> Int {
        max(32, (requested + 8 + 15) & ~15)
    }

    /// The heap bytes of a `[UInt8]` of `count` bytes; none when empty (the empty array is shared).
    @inline(__always)
    static func array(_ count: Int) -> Int {
        count == 0 ? 0 : allocation(arrayHeader + count)
    }

    /// The heap bytes of one queue message: its place in the ring, its bytes, and its media
    /// type when too long to sit inside the string (the default one is a constant).
    static func message(_ message: Payload) -> Int {
        let type = message.contentType.utf8.count
        let isAllocated = type > 15 && message.contentType != Payload.defaultContentType
        return Self.message + array(message.bytes.count) + (isAllocated ? allocation(arrayHeader + type) : 0)
    }

    /// The heap bytes of one leased message: its payload's, its lease entry and its timer.
    static func leased(_ message: Payload) -> Int {
        Self.message(message) - Self.message + lease + messageTimer
    }

    /// The heap bytes of one delayed message: its payload's, its entry and its timer.
    static func delayed(_ message: Payload) -> Int {
        Self.message(message) - Self.message + delayedMessage + messageTimer
    }
}
