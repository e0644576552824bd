/// Reads one JSON text (RFC 8259) from its UTF-8 bytes into a `JSONValue`, strictly: no
/// trailing garbage, no leading zeros, no unknown escapes, no unpaired surrogates, no control
/// characters in strings, no invalid UTF-8 (overlong forms, surrogates, past U+10FFFF), and at
/// most `maxDepth` arrays and objects inside one another, so that hostile input cannot exhaust
/// the stack. A UTF-8 byte order mark at the start is skipped, as the RFC allows.
///
/// A number whose exact value is whole and fits 64 bits is read as `.integer` (`12`, `-0`,
/// `1.0`, `2e3`); any other as `.number`, or refused when a `Double` cannot hold it (`1e400`).
/// When an object names a member twice, the first one counts (as Foundation's `JSONDecoder`
/// had it).
///
/// Nothing throws: each step returns `nil` at the first byte that cannot belong to JSON.
/// O(n) in the bytes. The reader does not own them: it must not outlive the buffer it reads.
struct JSONReader {
    /// The deepest nesting of arrays and objects read; deeper documents are refused.
    static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    private var depth = 0
    /// The bytes of a string with escapes, reused from one string to the next.
    private var unescaped: [UInt8] = []

    /// A reader of `bytes`, which must stay valid while it reads.
    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The JSON text, one value with optional whitespace around it; `nil` when the bytes are
    /// not exactly that. O(n).
    mutating func readDocument() -> JSONValue? {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            position = 3
        }
        skipWhitespace()
        guard let value = readValue() else { return nil }
        skipWhitespace()
        guard position == bytes.count else { return nil }
        return value
    }

    // MARK: Values

    /// The byte at the position, or 0 past the end: 0 is never valid where a byte is looked at
    /// (outside a string it starts no token; inside one it is a control character).
    private var current: UInt8 {
        position < bytes.count ? bytes[position] : 0
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                position += 1
            default:
                return
            }
        }
    }

    private mutating func readValue() -> JSONValue? {
        switch current {
        case UInt8(ascii: "\""): return readString().map(JSONValue.string)
        case UInt8(ascii: "{"): return readObject()
        case UInt8(ascii: "["): return readArray()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return readNumber()
        case UInt8(ascii: "t"): return readLiteral("true", as: .bool(true))
        case UInt8(ascii: "f"): return readLiteral("false", as: .bool(false))
        case UInt8(ascii: "n"): return readLiteral("null", as: .null)
        default: return nil
        }
    }

    private mutating func readLiteral(_ literal: StaticString, as value: JSONValue) -> JSONValue? {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else { return nil }
        for offset in 0..<count where bytes[position + offset] != literal.utf8Start[offset] {
            return nil
        }
        position += count
        return value
    }

    /// An object, the position at its `{`. O(n) in its members.
    private mutating func readObject() -> JSONValue? {
        guard depth < Self.maxDepth else { return nil }
        depth += 1
        defer { depth -= 1 }
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object([:])
        }
        // Requests hold a handful of members: one allocation instead of growing twice.
        var members = [String: JSONValue](minimumCapacity: 4)
        while true {
            guard current == UInt8(ascii: "\""), let name = readString() else { return nil }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { return nil }
            position += 1
            skipWhitespace()
            guard let value = readValue() else { return nil }
            if let first = members.updateValue(value, forKey: name) {
                members[name] = first
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default:
                return nil
            }
        }
    }

    /// An array, the position at its `[`. O(n) in its elements.
    private mutating func readArray() -> JSONValue? {
        guard depth < Self.maxDepth else { return nil }
        depth += 1
        defer { depth -= 1 }
        position += 1
        skipWhitespace()
        var values: [JSONValue] = []
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(values)
        }
        while true {
            guard let value = readValue() else { return nil }
            values.append(value)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                position += 1
                return .array(values)
            default:
                return nil
            }
        }
    }

    // MARK: Strings

    /// A string, the position at its opening quote. A string without escapes is made from the
    /// bytes where they lie; one with escapes is unescaped into a reused buffer first. O(n).
    private mutating func readString() -> String? {
        position += 1
        let start = position
        var runStart = position
        var hasEscapes = false
        unescaped.removeAll(keepingCapacity: true)
        while true {
            let byte = current
            switch byte {
            case UInt8(ascii: "\""):
                let text: String
                if hasEscapes {
                    unescaped.append(contentsOf: bytes[runStart..<position])
                    text = String(decoding: unescaped, as: UTF8.self)
                } else {
                    text = String(
                        decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                }
                position += 1
                return text
            case UInt8(ascii: "\\"):
                unescaped.append(contentsOf: bytes[runStart..<position])
                hasEscapes = true
                guard readEscape() else { return nil }
                runStart = position
            case 0..<0x20:
                // A control character, or the end of the bytes inside the string.
                return nil
            case 0x20..<0x80:
                position += 1
            default:
                guard skipMultibyteCharacter() else { return nil }
            }
        }
    }

    /// Unescapes one escape into `unescaped`, the position at its backslash.
    private mutating func readEscape() -> Bool {
        position += 1
        let byte = current
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(byte)
        case UInt8(ascii: "b"): unescaped.append(0x08)
        case UInt8(ascii: "f"): unescaped.append(0x0C)
        case UInt8(ascii: "n"): unescaped.append(0x0A)
        case UInt8(ascii: "r"): unescaped.append(0x0D)
        case UInt8(ascii: "t"): unescaped.append(0x09)
        case UInt8(ascii: "u"):
            guard let unit = readHexUnit() else { return false }
            var scalar = UInt32(unit)
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate: only valid followed by an escaped low one.
                guard current == UInt8(ascii: "\\") else { return false }
                position += 1
                guard current == UInt8(ascii: "u") else { return false }
                position += 1
                guard let low = readHexUnit(), (0xDC00...0xDFFF).contains(low) else { return false }
                scalar = 0x10000 + (UInt32(unit - 0xD800) << 10 | UInt32(low - 0xDC00))
            case 0xDC00...0xDFFF:
                return false
            default:
                break
            }
            appendUTF8(of: scalar)
        default:
            return false
        }
        return true
    }

    /// The four hex digits of a `\u` escape, as a UTF-16 code unit.
    private mutating func readHexUnit() -> UInt16? {
        guard bytes.count - position >= 4 else { return nil }
        var unit: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            unit = unit << 4 | UInt16(digit)
            position += 1
        }
        return unit
    }

    /// Appends a scalar (never a surrogate) to `unescaped` in UTF-8.
    private mutating func appendUTF8(of scalar: UInt32) {
        switch scalar {
        case ..<0x80:
            unescaped.append(UInt8(scalar))
        case ..<0x800:
            unescaped.append(0xC0 | UInt8(scalar >> 6))
            unescaped.append(0x80 | UInt8(scalar & 0x3F))
        case ..<0x10000:
            unescaped.append(0xE0 | UInt8(scalar >> 12))
            unescaped.append(0x80 | UInt8(scalar >> 6 & 0x3F))
            unescaped.append(0x80 | UInt8(scalar & 0x3F))
        default:
            unescaped.append(0xF0 | UInt8(scalar >> 18))
            unescaped.append(0x80 | UInt8(scalar >> 12 & 0x3F))
            unescaped.append(0x80 | UInt8(scalar >> 6 & 0x3F))
            unescaped.append(0x80 | UInt8(scalar & 0x3F))
        }
    }

    /// Steps over one well-formed UTF-8 character of two to four bytes (the Unicode standard's
    /// table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF).
    private mutating func skipMultibyteCharacter() -> Bool {
        let lead = current
        let count: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: count = 2
        case 0xE0: (count, secondRange) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED: (count, secondRange) = (3, 0x80...0x9F)
        case 0xF0: (count, secondRange) = (4, 0x90...0xBF)
        case 0xF1...0xF3: count = 4
        case 0xF4: (count, secondRange) = (4, 0x80...0x8F)
        default: return false
        }
        guard bytes.count - position >= count, secondRange.contains(bytes[position + 1]) else {
            return false
        }
        for offset in 2..<count where !(0x80...0xBF).contains(bytes[position + offset]) {
            return false
        }
        position += count
        return true
    }

    // MARK: Numbers

    /// A number, the position at its first byte:
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func readNumber() -> JSONValue? {
        let start = position
        let isNegative = current == UInt8(ascii: "-")
        if isNegative {
            position += 1
        }
        let integerDigits = position
        if current == UInt8(ascii: "0") {
            position += 1
        } else {
            guard skipDigits() else { return nil }
        }
        let integerEnd = position
        var fractionDigits = position
        var fractionEnd = position
        if current == UInt8(ascii: ".") {
            position += 1
            fractionDigits = position
            guard skipDigits() else { return nil }
            fractionEnd = position
        }
        var exponent = 0
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            let isNegativeExponent = current == UInt8(ascii: "-")
            if isNegativeExponent || current == UInt8(ascii: "+") {
                position += 1
            }
            let exponentDigits = position
            guard skipDigits() else { return nil }
            for byte in bytes[exponentDigits..<position] {
                // Capped rather than overflowing: past 10^12, far more than the digits any
                // message holds, no whole number fits 64 bits and a Double is infinite or zero.
                exponent = min(exponent * 10 + Int(byte - UInt8(ascii: "0")), 1_000_000_000_000)
            }
            if isNegativeExponent {
                exponent = -exponent
            }
        }
        let integerDigitRange = integerDigits..<integerEnd
        let fractionDigitRange = fractionDigits..<fractionEnd
        if fractionDigitRange.isEmpty && exponent == 0 {
            if let integer = Self.integer(bytes[integerDigitRange], isNegative: isNegative) {
                return .integer(integer)
            }
        } else if let integer = Self.wholeNumber(
            bytes, integerDigits: integerDigitRange, fractionDigits: fractionDigitRange, exponent: exponent,
            isNegative: isNegative)
        {
            return .integer(integer)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let number = Double(text), number.isFinite else { return nil }
        return .number(number)
    }

    /// Steps over one or more decimal digits; `false` when there is none.
    private mutating func skipDigits() -> Bool {
        let start = position
        while (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(current) {
            position += 1
        }
        return position > start
    }

    /// The value of digits with a fraction or an exponent, when it is exactly a whole number
    /// that fits 64 bits (`1.0`, `2.5e1`, `1000e-3`); `nil` otherwise. O(n) in the digits.
    private static func wholeNumber(
        _ bytes: UnsafeBufferPointer<UInt8>, integerDigits: Range<Int>, fractionDigits: Range<Int>,
        exponent: Int, isNegative: Bool
    ) -> Int64? {
        // The digits of both parts as one run, read through an index into it.
        let count = integerDigits.count + fractionDigits.count
        func digit(_ index: Int) -> UInt8 {
            index < integerDigits.count
                ? bytes[integerDigits.lowerBound + index]
                : bytes[fractionDigits.lowerBound + index - integerDigits.count]
        }
        var end = count
        while end > 0 && digit(end - 1) == UInt8(ascii: "0") {
            end -= 1
        }
        var start = 0
        while start < end && digit(start) == UInt8(ascii: "0") {
            start += 1
        }
        guard start < end else { return 0 }
        // value = digits[start..<end] × 10^scale
        let scale = exponent - fractionDigits.count + (count - end)
        // 19 digits always fit in a UInt64; the sign check below decides for Int64.
        guard scale >= 0, end - start + scale <= 19 else { return nil }
        var magnitude: UInt64 = 0
        for index in start..<end {
            magnitude = magnitude * 10 + UInt64(digit(index) - UInt8(ascii: "0"))
        }
        for _ in 0..<scale {
            magnitude *= 10
        }
        return integer(magnitude: magnitude, isNegative: isNegative)
    }

    /// The decimal `digits` with a sign, when they fit an `Int64`. O(n) in the digits.
    private static func integer(_ digits: UnsafeBufferPointer<UInt8>.SubSequence, isNegative: Bool) -> Int64?
    {
        var magnitude: UInt64 = 0
        for digit in digits {
            let (tens, overflowsTens) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflowsSum) = tens.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflowsTens, !overflowsSum else { return nil }
            magnitude = sum
        }
        return integer(magnitude: magnitude, isNegative: isNegative)
    }

    /// `magnitude` with its sign, when it fits an `Int64`.
    private static func integer(magnitude: UInt64, isNegative: Bool) -> Int64? {
        if isNegative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return Int64(bitPattern: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }
}
