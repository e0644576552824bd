/// The segments a path gave its template's parameters, still percent-encoded, in order.
///
/// At most three, kept inline: matching a route allocates nothing.
struct PathParameters {
    /// The most parameters a template may have.
    static let capacity = 3

    /// The path they are taken from.
    let path: ArraySlice<UInt8>
    private var ranges: (Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0)
    private var keyFlags: UInt8 = 0
    /// The number of parameters.
    private(set) var count = 0

    /// No parameters yet, of `path`.
    init(path: ArraySlice<UInt8>) {
        self.path = path
    }

    /// Adds the next parameter: the bytes of `range` in the path; `isKey` when it names a key.
    mutating func append(_ range: Range<Int>, isKey: Bool) {
        switch count {
        case 0: ranges.0 = range
        case 1: ranges.1 = range
        case 2: ranges.2 = range
        default: preconditionFailure("a template has at most \(Self.capacity) parameters")
        }
        if isKey {
            keyFlags |= 1 << count
        }
        count += 1
    }

    /// The raw segment of parameter `index`.
    subscript(index: Int) -> ArraySlice<UInt8> {
        precondition(index < count, "the route has no parameter \(index)")
        let range =
            switch index {
            case 0: ranges.0
            case 1: ranges.1
            default: ranges.2
            }
        return path[range]
    }

    /// The raw segments of the parameters that name keys or queues.
    var keySegments: [ArraySlice<UInt8>] {
        (0..<count).filter { keyFlags & (1 << $0) != 0 }.map { self[$0] }
    }
}
