/// Any JSON value: WebSocket requests are read as one, and replies written from one.
///
/// Whole numbers that fit 64 bits stay exact integers, so a request `id` such as a large
/// counter comes back exactly as sent.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses JSON text; `nil` when it is not JSON (RFC 8259, strictly: see `JSONReader`).
    /// O(n).
    static func parse(_ text: String) -> JSONValue? {
        var text = text
        return text.withUTF8 { bytes in
            var reader = JSONReader(bytes)
            return reader.readDocument()
        }
    }

    /// Parses JSON text from its bytes, which must be UTF-8; `nil` when they are not JSON.
    /// O(n).
    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        bytes.withUnsafeBufferPointer { bytes in
            var reader = JSONReader(bytes)
            return reader.readDocument()
        }
    }

    /// The value as compact JSON text, object members in the order of their names. O(size).
    var text: String {
        var writer = JSONWriter()
        writer.append(self)
        return writer.text
    }
}
