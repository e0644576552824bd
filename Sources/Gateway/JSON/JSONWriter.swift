/// Writes compact JSON text into a byte buffer, piece by piece: the WebSocket replies are
/// written straight into one, in a fixed member order, with no dictionary built and no keys
/// sorted.
///
/// The writer does not check the structure: the caller writes the punctuation (`{`, `,`, `:`)
/// and is trusted to close what it opens.
struct JSONWriter {
    /// The text so far, UTF-8.
    private(set) var bytes: [UInt8] = []

    /// A writer whose buffer first holds `capacity` bytes.
    init(capacity: Int = 128) {
        bytes.reserveCapacity(capacity)
    }

    /// The text written, as a `String`. O(n).
    var text: String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `raw` as it is: punctuation, literals, or fixed text such as `,"ok":true` that
    /// is known to need no escape. O(its length).
    mutating func append(raw: StaticString) {
        raw.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends `value` as a JSON string, escaping what RFC 8259 requires (quote, backslash,
    /// control characters). Runs of bytes that need no escape, nearly all of a value, are
    /// appended whole. O(n) in its UTF-8.
    mutating func appendString(_ value: String) {
        var value = value
        value.withUTF8 { appendString(utf8: $0) }
    }

    /// Appends bytes known to be valid UTF-8 (checked by the caller) as a JSON string, as
    /// `appendString(_:)` does. O(n).
    mutating func appendString(utf8 value: [UInt8]) {
        value.withUnsafeBufferPointer { appendString(utf8: $0) }
    }

    private mutating func appendString(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        for index in utf8.indices {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                continue
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            appendEscape(of: byte)
            runStart = index + 1
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends a whole number in decimal. O(its digits).
    mutating func appendInteger(_ value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
        }
        appendDigits(of: value.magnitude)
    }

    /// Appends a number as Swift prints it, the shortest text that reads back the same
    /// (`0.5`, `1e-07`); `null` when it is not finite, which JSON cannot write.
    mutating func appendNumber(_ value: Double) {
        guard value.isFinite else {
            append(raw: "null")
            return
        }
        bytes.append(contentsOf: value.description.utf8)
    }

    /// Appends `true` or `false`.
    mutating func appendBool(_ value: Bool) {
        append(raw: value ? "true" : "false")
    }

    /// Appends any JSON value; an object's members in the order of their names, so that the
    /// text is the same for equal values. O(size), and O(m log m) for an object of m members.
    mutating func append(_ value: JSONValue) {
        switch value {
        case .null: append(raw: "null")
        case .bool(let value): appendBool(value)
        case .integer(let value): appendInteger(value)
        case .number(let value): appendNumber(value)
        case .string(let value): appendString(value)
        case .array(let values):
            bytes.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 {
                    bytes.append(UInt8(ascii: ","))
                }
                append(value)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, name) in members.keys.sorted().enumerated() {
                if index > 0 {
                    bytes.append(UInt8(ascii: ","))
                }
                appendString(name)
                bytes.append(UInt8(ascii: ":"))
                append(members[name] ?? .null)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Appends the digits of `value`, most significant first: written from the last into a
    /// buffer on the stack, then appended at once. O(its digits).
    private mutating func appendDigits(of value: UInt64) {
        // UInt64.max has 20 digits.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            var remaining = value
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
                remaining /= 10
            } while remaining > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    /// Appends the escape of an ASCII byte that may not appear as itself in a JSON string.
    private mutating func appendEscape(of byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): append(raw: #"\""#)
        case UInt8(ascii: "\\"): append(raw: #"\\"#)
        case UInt8(ascii: "\n"): append(raw: #"\n"#)
        case UInt8(ascii: "\r"): append(raw: #"\r"#)
        case UInt8(ascii: "\t"): append(raw: #"\t"#)
        default:
            let hexDigits: StaticString = "0123456789abcdef"
            append(raw: #"\u00"#)
            bytes.append(hexDigits.utf8Start[Int(byte >> 4)])
            bytes.append(hexDigits.utf8Start[Int(byte & 0x0F)])
        }
    }
}
