/// Where a path's segments gave its template's parameters, in order: their bounds as offsets
/// from the path's start. Plain values, at most three, kept inline: matching a route allocates
/// and retains nothing.
struct PathParameters {
    /// The most parameters a template may have.
    static let capacity = 3

    private var bounds = InlineArray<3, Range<Int>>(repeating: 0..<0)
    private var keyFlags: UInt8 = 0
    /// The number of parameters.
    private(set) var count = 0

    /// Adds the next parameter: the bytes of `range` in the path; `isKey` when it names a key.
    mutating func append(_ range: Range<Int>, isKey: Bool) {
        precondition(count < Self.capacity, "a template has at most \(Self.capacity) parameters")
        bounds[count] = range
        if isKey {
            keyFlags |= 1 << count
        }
        count += 1
    }

    /// The bounds of parameter `index`, as offsets from the path's start.
    subscript(index: Int) -> Range<Int> {
        precondition(index < count, "the route has no parameter \(index)")
        return bounds[index]
    }

    /// Whether parameter `index` names a key or queue.
    func isKey(_ index: Int) -> Bool {
        keyFlags & (1 << index) != 0
    }
}
