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
        var text = ""
        write(to: &text)
        return text
    }

    /// Appends the value as compact JSON text.
    func write(to text: inout String) {
        switch self {
        case .null: text += "null"
        case .bool(let value): text += value ? "true" : "false"
        case .integer(let value): text += String(value)
        case .number(let value): text += value.isFinite ? "\(value)" : "null"
        case .string(let value): Self.writeString(value, to: &text)
        case .array(let values):
            text += "["
            for (index, value) in values.enumerated() {
                if index > 0 { text += "," }
                value.write(to: &text)
            }
            text += "]"
        case .object(let members):
            text += "{"
            for (index, name) in members.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                Self.writeString(name, to: &text)
                text += ":"
                members[name]?.write(to: &text)
            }
            text += "}"
        }
    }

    /// Appends `value` as a JSON string, escaping what RFC 8259 requires. Runs of bytes that
    /// need no escape, nearly all of a value, are appended whole.
    static func writeString(_ value: String, to text: inout String) {
        text += "\""
        var value = value
        value.withUTF8 { bytes in
            var runStart = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                    continue
                }
                text += String(
                    decoding: UnsafeBufferPointer(rebasing: bytes[runStart..<index]), as: UTF8.self)
                text += escaped(byte)
                runStart = index + 1
            }
            text += String(decoding: UnsafeBufferPointer(rebasing: bytes[runStart...]), as: UTF8.self)
        }
        text += "\""
    }

    /// The escape of an ASCII byte that may not appear as itself in a JSON string.
    private static func escaped(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): return "\\\""
        case UInt8(ascii: "\\"): return "\\\\"
        case UInt8(ascii: "\n"): return "\\n"
        case UInt8(ascii: "\r"): return "\\r"
        case UInt8(ascii: "\t"): return "\\t"
        default:
            let hex = String(byte, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        }
    }
}
