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

    @usableFromInline struct Node {
        @usableFromInline var deadline: Deadline
        @usableFromInline var slot: Int32

        @inlinable init(deadline: Deadline, slot: Int32) {
            self.deadline = deadline
            self.slot = slot
        }
    }

    /// Where a handle's node is; a free slot has no element and links to the next free slot.
    @usableFromInline struct Slot {
        @usableFromInline var element: Element?
        @usableFromInline var position: Int32

        @inlinable init(element: Element?, position: Int32) {
            self.element = element
            self.position = position
        }
    }

    @usableFromInline var nodes: [Node] = []
    @usableFromInline var slots: [Slot] = []
    @usableFromInline var firstFreeSlot: Int32 = -1

    /// An empty heap.
    @inlinable public init() {}

    /// The number of elements.
    @inlinable public var count: Int { nodes.count }

    /// Whether the heap is empty.
    @inlinable public var isEmpty: Bool { nodes.isEmpty }

    /// The earliest deadline, its element and handle.
    @inlinable public var first: (deadline: Deadline, element: Element, handle: Handle)? {
        guard let node = nodes.first, let element = slots[Int(node.slot)].element else { return nil }
        return (node.deadline, element, Handle(slot: node.slot))
    }

    /// The element at `position` in the heap's storage, positions running from 0 to
    /// `count - 1` in no useful order: a uniform sample when `position` is random. O(1).
    @inlinable public func element(atPosition position: Int) -> Element? {
        slots[Int(nodes[position].slot)].element
    }

    /// The deadline of an element.
    @inlinable public func deadline(of handle: Handle) -> Deadline {
        nodes[Int(slots[Int(handle.slot)].position)].deadline
    }

    /// The element of a handle, `nil` when its slot is free.
    @inlinable public func element(of handle: Handle) -> Element? {
        slots.indices.contains(Int(handle.slot)) ? slots[Int(handle.slot)].element : nil
    }

    /// Adds `element` with `deadline`. O(log n).
    @inlinable public mutating func insert(_ element: Element, deadline: Deadline) -> Handle {
        let slot = allocateSlot(for: element)
        nodes.append(Node(deadline: deadline, slot: slot))
        slots[Int(slot)].position = Int32(nodes.count - 1)
        siftUp(from: nodes.count - 1)
        return Handle(slot: slot)
    }

    /// Replaces the element of `handle`, keeping its deadline. O(1).
    @inlinable public mutating func setElement(_ element: Element, of handle: Handle) {
        slots[Int(handle.slot)].element = element
    }

    /// Moves an element to a new deadline. O(log n).
    @inlinable public mutating func update(_ handle: Handle, deadline: Deadline) {
        let position = Int(slots[Int(handle.slot)].position)
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
        let element = slots[Int(handle.slot)].element
        slots[Int(handle.slot)] = Slot(element: nil, position: firstFreeSlot)
        firstFreeSlot = handle.slot
        return element
    }

    /// Checks the heap order and every handle's position; for tests. O(n).
    public var isConsistent: Bool {
        for position in nodes.indices {
            if position > 0 && nodes[position].deadline < nodes[parent(of: position)].deadline {
                return false
            }
            let slot = slots[Int(nodes[position].slot)]
            if slot.element == nil || Int(slot.position) != position { return false }
        }
        return true
    }

    @inlinable mutating func allocateSlot(for element: Element) -> Int32 {
        guard firstFreeSlot >= 0 else {
            slots.append(Slot(element: element, position: 0))
            return Int32(slots.count - 1)
        }
        let slot = firstFreeSlot
        firstFreeSlot = slots[Int(slot)].position
        slots[Int(slot)] = Slot(element: element, position: 0)
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
        slots[Int(node.slot)].position = Int32(position)
    }
}

extension DeadlineHeap: Sendable where Deadline: Sendable, Element: Sendable {}
extension DeadlineHeap.Node: Sendable where Deadline: Sendable {}
extension DeadlineHeap.Slot: Sendable where Element: Sendable {}
