/// Elements ordered by deadline, earliest first (a 4-ary min-heap), each with a stable handle:
/// the keyspace's expiry index, and the `DeadlineQueue`'s timers.
///
/// An element overwritten, deleted or cancelled before its deadline leaves the heap at once,
/// in O(log n), instead of lingering as a stale entry. Insert, update and remove are
/// O(log n); `first` is O(1). Inlinable, so that each use is specialized for its types; `public`
/// rather than `package` for that (Mutex.swift says why).
public struct DeadlineHeap<Deadline: Comparable, Element> {
    /// A stable reference to one element, kept by whoever owns it. A handle is reused once its
    /// element is removed: keep it no longer than the element.
    public struct Handle: Hashable, Sendable {
        @usableFromInline let slot: Int32

        @inlinable init(slot: Int32) {
            self.slot = slot
        }

        /// A handle from the number `rawValue` gave, for an owner that stores it compactly.
        @inlinable public init(rawValue: Int32) {
            slot = rawValue
        }

        /// The handle as a number, never negative.
        @inlinable public var rawValue: Int32 { slot }
    }

    /// The element sits in its node, not in its handle's slot: the keyspace's node (an 8-byte
    /// deadline, two 4-byte numbers) is 16 bytes either way, and a slot is then 4 bytes, not 12.
    @usableFromInline struct Node {
        @usableFromInline var deadline: Deadline
        @usableFromInline var slot: Int32
        @usableFromInline var element: Element

        @inlinable init(deadline: Deadline, slot: Int32, element: Element) {
            self.deadline = deadline
            self.slot = slot
            self.element = element
        }
    }

    /// Each handle's node position; a free slot holds `-2 - next`, `next` being the next free
    /// slot (-1 for none), so that a free slot is negative.
    @usableFromInline var positions: [Int32] = []
    @usableFromInline var nodes: [Node] = []
    @usableFromInline var firstFreeSlot: Int32 = -1

    /// An empty heap.
    @inlinable public init() {}

    /// The number of elements.
    @inlinable public var count: Int { nodes.count }

    /// Whether the heap is empty.
    @inlinable public var isEmpty: Bool { nodes.isEmpty }

    /// The earliest deadline, its element and handle.
    @inlinable public var first: (deadline: Deadline, element: Element, handle: Handle)? {
        guard let node = nodes.first else { return nil }
        return (node.deadline, node.element, Handle(slot: node.slot))
    }

    /// The element at `position` in the heap's storage, positions running from 0 to
    /// `count - 1` in no useful order: a uniform sample when `position` is random. O(1).
    @inlinable public func element(atPosition position: Int) -> Element? {
        nodes[position].element
    }

    /// The deadline of an element.
    @inlinable public func deadline(of handle: Handle) -> Deadline {
        nodes[Int(positions[Int(handle.slot)])].deadline
    }

    /// The element of a handle, `nil` when its slot is free.
    @inlinable public func element(of handle: Handle) -> Element? {
        let slot = Int(handle.slot)
        guard positions.indices.contains(slot), positions[slot] >= 0 else { return nil }
        return nodes[Int(positions[slot])].element
    }

    /// Adds `element` with `deadline`. O(log n).
    @inlinable public mutating func insert(_ element: Element, deadline: Deadline) -> Handle {
        let slot = allocateSlot()
        nodes.append(Node(deadline: deadline, slot: slot, element: element))
        positions[Int(slot)] = Int32(nodes.count - 1)
        siftUp(from: nodes.count - 1)
        return Handle(slot: slot)
    }

    /// Replaces the element of `handle`, keeping its deadline. O(1).
    @inlinable public mutating func setElement(_ element: Element, of handle: Handle) {
        nodes[Int(positions[Int(handle.slot)])].element = element
    }

    /// Moves an element to a new deadline. O(log n).
    @inlinable public mutating func update(_ handle: Handle, deadline: Deadline) {
        let position = Int(positions[Int(handle.slot)])
        let old = nodes[position].deadline
        nodes[position].deadline = deadline
        if deadline < old {
            siftUp(from: position)
        } else {
            siftDown(from: position)
        }
    }

    /// Removes an element; returns it. O(log n).
    @inlinable @discardableResult
    public mutating func remove(_ handle: Handle) -> Element? {
        let position = Int(positions[Int(handle.slot)])
        let element = nodes[position].element
        let last = nodes.count - 1
        if position != last {
            nodes[position] = nodes[last]
            positions[Int(nodes[position].slot)] = Int32(position)
            nodes.removeLast()
            if position > 0 && nodes[position].deadline < nodes[parent(of: position)].deadline {
                siftUp(from: position)
            } else {
                siftDown(from: position)
            }
        } else {
            nodes.removeLast()
        }
        positions[Int(handle.slot)] = -2 - firstFreeSlot
        firstFreeSlot = handle.slot
        return element
    }

    /// Checks the heap order and every handle's position; for tests. O(n).
    public var isConsistent: Bool {
        for position in nodes.indices {
            if position > 0 && nodes[position].deadline < nodes[parent(of: position)].deadline {
                return false
            }
            if Int(positions[Int(nodes[position].slot)]) != position { return false }
        }
        return true
    }

    @inlinable mutating func allocateSlot() -> Int32 {
        guard firstFreeSlot >= 0 else {
            positions.append(0)
            return Int32(positions.count - 1)
        }
        let slot = firstFreeSlot
        firstFreeSlot = -2 - positions[Int(slot)]
        positions[Int(slot)] = 0
        return slot
    }

    @inlinable func parent(of position: Int) -> Int { (position - 1) / 4 }

    @inlinable mutating func siftUp(from start: Int) {
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

    @inlinable mutating func siftDown(from start: Int) {
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

    @inlinable mutating func place(_ node: Node, at position: Int) {
        nodes[position] = node
        positions[Int(node.slot)] = Int32(position)
    }
}

extension DeadlineHeap: Sendable where Deadline: Sendable, Element: Sendable {}
extension DeadlineHeap.Node: Sendable where Deadline: Sendable, Element: Sendable {}
