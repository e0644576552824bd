/// A queue key as the keyspace stores it: its key, version, deadline and messages.
///
/// Changed in place only when uniquely referenced; a snapshot being written may share it, and
/// the first change after the capture works on a copy (whose messages are copied on write).
final class QueueRecord {
    /// The key's bytes.
    let key: Key
    var version: UInt64
    /// The deadline in Unix milliseconds; `Int64.max` for a persistent key.
    var deadline: Int64 = .max
    /// The key's place in the expiry index; -1 without a deadline.
    var expirySlot: Int32 = -1
    /// The messages.
    var value: QueueValue

    /// A queue at `key` holding `value`.
    init(key: Key, version: UInt64, value: QueueValue) {
        self.key = key
        self.version = version
        self.value = value
    }

    /// A copy with the same fields.
    func copy() -> QueueRecord {
        let copy = QueueRecord(key: key, version: version, value: value)
        copy.deadline = deadline
        copy.expirySlot = expirySlot
        return copy
    }

    /// The bytes the queue takes on the heap: this object, its key, its ring of messages and
    /// each message's bytes, as glibc's malloc rounds them.
    var allocatedBytes: Int {
        MemoryCost.allocation(MemoryCost.objectHeader + 48) + MemoryCost.array(key.bytes.count)
            + value.allocatedBytes
    }
}
