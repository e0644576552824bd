package import MicroHTTPD

/// The methods an endpoint answers, as a set of bits: checking one costs an integer test.
///
/// `HEAD` is in every set with `GET`, and `OPTIONS` in every set (the route table adds both).
package struct MethodSet: OptionSet, Sendable {
    /// One bit per method, in the order `Allow` lists them.
    package let rawValue: UInt8

    /// Creates a set from its bits.
    package init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// `GET`.
    package static let get = MethodSet(rawValue: 1 << 0)
    /// `HEAD`.
    package static let head = MethodSet(rawValue: 1 << 1)
    /// `PUT`.
    package static let put = MethodSet(rawValue: 1 << 2)
    /// `POST`.
    package static let post = MethodSet(rawValue: 1 << 3)
    /// `DELETE`.
    package static let delete = MethodSet(rawValue: 1 << 4)
    /// `OPTIONS`.
    package static let options = MethodSet(rawValue: 1 << 5)

    /// The methods with a bit, in the order of the bits and of `HTTPMethod.commonIndex`.
    private static let methodsByBit: [HTTPMethod] = [.get, .head, .put, .post, .delete, .options]

    /// Whether `method` is in the set; a method without a bit never is. O(1).
    package func contains(_ method: HTTPMethod) -> Bool {
        // The bits follow `HTTPMethod.commonIndex`, whose first six are these methods.
        let index = method.commonIndex
        return index < Self.methodsByBit.count && rawValue & (1 << index) != 0
    }

    /// The methods, in the order `Allow` lists them.
    package var methods: [HTTPMethod] {
        Self.methodsByBit.indices.filter { rawValue & (1 << $0) != 0 }.map { Self.methodsByBit[$0] }
    }

    /// The value of `Allow`: `GET, HEAD, PUT, DELETE, OPTIONS`.
    package var allowHeader: String {
        methods.map(\.rawValue).joined(separator: ", ")
    }
}
