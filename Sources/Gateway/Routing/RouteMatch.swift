/// A request the route table matched: the route's index in the table, and the path's parameters.
struct RouteMatch {
    /// The route's index in the table: its series in metrics.
    let index: Int
    /// The raw path.
    let path: ArraySlice<UInt8>
    /// Where the path's parameters are.
    let parameters: PathParameters

    /// The raw (still percent-encoded) segment of parameter `index`.
    subscript(index: Int) -> ArraySlice<UInt8> {
        let bounds = parameters[index]
        return path[(path.startIndex + bounds.lowerBound)..<(path.startIndex + bounds.upperBound)]
    }

    /// The raw segments of the parameters that name keys or queues.
    var keySegments: [ArraySlice<UInt8>] {
        (0..<parameters.count).filter(parameters.isKey).map { self[$0] }
    }
}
