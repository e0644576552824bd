import DequeModule
import Plumbing

/// The value of a queue key: its visible messages in line, and those leased or delayed.
///
/// A queue never holds zero messages: the last one to leave removes the key, as in Redis.
/// The deadlines of leases and delays are in the keyspace's `MessageTimers`; each message here
/// keeps its handle there. `allocatedBytes` counts every message, whatever its state, with its
/// lease's or delay's bookkeeping: a queue's memory is never forgotten while its messages are
/// out with consumers.
struct QueueValue {
    /// A message received on a lease.
    struct Lease {
        /// The message, its `attempts` counting this lease.
        var message: QueueMessage
        /// The lease's number, new on every delivery: what its receipt names.
        var number: UInt64
        /// When the lease ends.
        var deadline: Timestamp
        /// Its place among the timers; `nil` until armed.
        var timer: MessageTimers.Handle? = nil
    }

    /// A message pushed with a delay.
    struct Delayed {
        /// The message.
        var message: QueueMessage
        /// When it becomes visible.
        var until: Timestamp
        /// Its place among the timers; `nil` until armed.
        var timer: MessageTimers.Handle? = nil
    }

    /// The messages a pop or a receive would take, in increasing order of place.
    private(set) var visible: Deque<QueueMessage> = []
    /// The leased messages by id.
    private(set) var leases: [UInt64: Lease] = [:]
    /// The delayed messages by id.
    private(set) var delayed: [UInt64: Delayed] = [:]
    /// The bytes of every message together.
    private(set) var bytes = 0
    /// The heap bytes of every message together, with their leases' and delays' bookkeeping,
    /// as `MemoryCost` counts them.
    private(set) var allocatedBytes = 0

    /// The number of messages, whatever their state.
    var count: Int { visible.count + leases.count + delayed.count }

    /// The number of messages in each state.
    var counts: MessageCounts {
        MessageCounts(visible: visible.count, inFlight: leases.count, delayed: delayed.count)
    }

    /// Puts a message in line at its place: at the tail for a new place, near the head for a
    /// message whose lease ended. O(log n) to find the place, O(distance to the nearer end) to
    /// insert.
    mutating func putInLine(_ message: QueueMessage) {
        bytes += message.payload.bytes.count
        allocatedBytes += MemoryCost.message(message.payload)
        if let last = visible.last, last.place > message.place {
            if let first = visible.first, first.place > message.place {
                visible.prepend(message)
                return
            }
            var low = 0
            var high = visible.count
            while low < high {
                let middle = (low + high) / 2
                if visible[middle].place < message.place {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            visible.insert(message, at: low)
        } else {
            visible.append(message)
        }
    }

    /// Puts a message at the head of the line, whatever its place; for records of logs
    /// written before messages had places.
    mutating func putAtHead(_ message: QueueMessage) {
        bytes += message.payload.bytes.count
        allocatedBytes += MemoryCost.message(message.payload)
        visible.prepend(message)
    }

    /// Removes and returns the message at the head of the line.
    mutating func removeFirstVisible() -> QueueMessage? {
        guard let message = visible.popFirst() else { return nil }
        bytes -= message.payload.bytes.count
        allocatedBytes -= MemoryCost.message(message.payload)
        return message
    }

    /// Removes and returns the `limit` messages at the head of the line, or as many as there
    /// are. O(limit).
    mutating func removeFirstVisible(upTo limit: Int) -> [QueueMessage] {
        var taken: [QueueMessage] = []
        while taken.count < limit, let message = removeFirstVisible() {
            taken.append(message)
        }
        return taken
    }

    /// Removes and returns the visible message `id`. O(1) at the head, O(n) elsewhere (only
    /// a damaged or foreign log asks for that).
    mutating func removeVisible(_ id: UInt64) -> QueueMessage? {
        if visible.first?.id == id {
            return removeFirstVisible()
        }
        guard let index = visible.firstIndex(where: { $0.id == id }) else { return nil }
        let message = visible.remove(at: index)
        bytes -= message.payload.bytes.count
        allocatedBytes -= MemoryCost.message(message.payload)
        return message
    }

    /// The oldest `limit` visible messages.
    func firstVisible(_ limit: Int) -> [QueueMessage] {
        Array(visible.prefix(limit))
    }

    /// Adds a lease, whose message left the line.
    mutating func addLease(_ lease: Lease) {
        bytes += lease.message.payload.bytes.count
        allocatedBytes += MemoryCost.leased(lease.message.payload)
        leases[lease.message.id] = lease
    }

    /// Removes and returns the lease of message `id`.
    mutating func removeLease(_ id: UInt64) -> Lease? {
        guard let lease = leases.removeValue(forKey: id) else { return nil }
        bytes -= lease.message.payload.bytes.count
        allocatedBytes -= MemoryCost.leased(lease.message.payload)
        return lease
    }

    /// Moves the lease of message `id` to `deadline`; `false` when there is none.
    mutating func moveLease(_ id: UInt64, to deadline: Timestamp) -> Bool {
        guard leases[id] != nil else { return false }
        leases[id]?.deadline = deadline
        return true
    }

    /// Sets the timer handle of the lease or delayed message `id`.
    mutating func setTimer(_ timer: MessageTimers.Handle, of id: UInt64) {
        if leases[id] != nil {
            leases[id]?.timer = timer
        } else {
            delayed[id]?.timer = timer
        }
    }

    /// Adds a delayed message.
    mutating func addDelayed(_ delayed: Delayed) {
        bytes += delayed.message.payload.bytes.count
        allocatedBytes += MemoryCost.delayed(delayed.message.payload)
        self.delayed[delayed.message.id] = delayed
    }

    /// Removes and returns the delayed message `id`.
    mutating func removeDelayed(_ id: UInt64) -> Delayed? {
        guard let delayed = delayed.removeValue(forKey: id) else { return nil }
        bytes -= delayed.message.payload.bytes.count
        allocatedBytes -= MemoryCost.delayed(delayed.message.payload)
        return delayed
    }

    /// The handles of every armed timer: of leases and delayed messages.
    var timers: [MessageTimers.Handle] {
        leases.values.compactMap(\.timer) + delayed.values.compactMap(\.timer)
    }

    /// Whether `allocatedBytes` is the sum of every message's cost; for tests. O(n).
    var isAccountedFor: Bool {
        let visibleBytes = visible.reduce(0) { $0 + MemoryCost.message($1.payload) }
        let leasedBytes = leases.values.reduce(0) { $0 + MemoryCost.leased($1.message.payload) }
        let delayedBytes = delayed.values.reduce(0) { $0 + MemoryCost.delayed($1.message.payload) }
        return allocatedBytes == visibleBytes + leasedBytes + delayedBytes
    }
}
