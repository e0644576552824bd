/// The expiry index: keys ordered by deadline, earliest first (a 4-ary min-heap).
///
/// Every entry has a stable `Handle`, so a key overwritten, deleted or persisted before its
/// deadline leaves the index at once, in O(log n), instead of lingering as a stale entry.
/// Insert, update and remove are O(log n); `first` is O(1).
struct DeadlineHeap {
    /// A stable reference to one entry, kept by the key that owns it.
    struct Handle: Hashable {
        fileprivate let slot: Int32
    }

    private struct Node {
        var deadline: Timestamp
        var slot: Int32
    }

    /// Where a handle's node is; a free slot has no key and links to the next free slot.
    private struct Slot {
        var key: Key?
        var position: Int32
    }

    private var nodes: [Node] = []
    private var slots: [Slot] = []
    private var firstFreeSlot: Int32 = -1

    /// The number of keys with a deadline.
    var count: Int { nodes.count }

    /// The earliest deadline and its key.
    var first: (deadline: Timestamp, key: Key)? {
        guard let node = nodes.first, let key = slots[Int(node.slot)].key else { return nil }
        return (node.deadline, key)
    }

    /// The deadline an entry holds.
    func deadline(of handle: Handle) -> Timestamp {
        nodes[Int(slots[Int(handle.slot)].position)].deadline
    }

    /// Adds `key` with `deadline`. O(log n).
    mutating func insert(_ key: Key, deadline: Timestamp) -> Handle {
        let slot = allocateSlot(for: key)
        nodes.append(Node(deadline: deadline, slot: slot))
        slots[Int(slot)].position = Int32(nodes.count - 1)
        siftUp(from: nodes.count - 1)
        return Handle(slot: slot)
    }

    /// Moves an entry to a new deadline. O(log n).
    mutating func update(_ handle: Handle, deadline: Timestamp) {
        let position = Int(slots[Int(handle.slot)].position)
        let old = nodes[position].deadline
        nodes[position].deadline = deadline
        if deadline < old {
            siftUp(from: position)
        } else {
            siftDown(from: position)
        }
    }

    /// Removes an entry. O(log n).
    mutating func remove(_ handle: Handle) {
        let position = Int(slots[Int(handle.slot)].position)
        let last = nodes.count - 1
        if position != last {
            nodes[position] = nodes[last]
            slots[Int(nodes[position].slot)].position = Int32(position)
            nodes.removeLast()
            if position > 0 && nodes[position].deadline < nodes[parent(of: position)].deadline {
                siftUp(from: position)
            } else {
                siftDown(from: position)
            }
        } else {
            nodes.removeLast()
        }
        slots[Int(handle.slot)] = Slot(key: nil, position: firstFreeSlot)
        firstFreeSlot = handle.slot
    }

    private mutating func allocateSlot(for key: Key) -> Int32 {
        guard firstFreeSlot >= 0 else {
            slots.append(Slot(key: key, position: 0))
            return Int32(slots.count - 1)
        }
        let slot = firstFreeSlot
        firstFreeSlot = slots[Int(slot)].position
        slots[Int(slot)] = Slot(key: key, position: 0)
        return slot
    }

    private func parent(of position: Int) -> Int { (position - 1) / 4 }

    private mutating func siftUp(from start: Int) {
        var position = start
        let node = nodes[position]
        while position > 0 {
            let up = parent(of: position)
            guard node.deadline < nodes[up].deadline else { break }
            place(nodes[up], at: position)
            position = up
        }
        place(node, at: position)
    }

    private mutating func siftDown(from start: Int) {
        var position = start
        let node = nodes[position]
        while true {
            let firstChild = 4 * position + 1
            guard firstChild < nodes.count else { break }
            var earliest = firstChild
            for child in (firstChild + 1)..<min(firstChild + 4, nodes.count)
            where nodes[child].deadline < nodes[earliest].deadline {
                earliest = child
            }
            guard nodes[earliest].deadline < node.deadline else { break }
            place(nodes[earliest], at: position)
            position = earliest
        }
        place(node, at: position)
    }

    private mutating func place(_ node: Node, at position: Int) {
        nodes[position] = node
        slots[Int(node.slot)].position = Int32(position)
    }
}

extension DeadlineHeap {
    /// Checks the heap order and every handle's position; for tests. O(n).
    var isConsistent: Bool {
        for position in nodes.indices {
            if position > 0 && nodes[position].deadline < nodes[parent(of: position)].deadline {
                return false
            }
            let slot = slots[Int(nodes[position].slot)]
            if slot.key == nil || Int(slot.position) != position { return false }
        }
        return true
    }
}
