/// Strict percent-decoding of URL components (RFC 3986, section 2.1).
///
/// A `%` must be followed by two hexadecimal digits; anything else is a 400, never guessed at.
package enum PercentEncoding {
    /// Decodes one component to bytes. O(n) in the component's length.
    ///
    /// - Parameter plusIsSpace: `true` for query components, where `+` stands for a space
    ///   (`application/x-www-form-urlencoded`); a literal plus is then sent as `%2B`.
    package static func decode(_ component: ArraySlice<UInt8>, plusIsSpace: Bool = false)
        throws(HTTPError) -> [UInt8]
    {
        guard hasEscapes(component, plusIsSpace: plusIsSpace, orNonASCII: false) else {
            return Array(component)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(component.count)
        var index = component.startIndex
        while index < component.endIndex {
            let byte = component[index]
            index += 1
            if byte == plus && plusIsSpace {
                decoded.append(UInt8(ascii: " "))
            } else if byte == percent {
                guard index + 1 < component.endIndex,
                    let high = hexValue(component[index]), let low = hexValue(component[index + 1])
                else {
                    throw invalidEscape(in: component)
                }
                index += 2
                decoded.append(high << 4 | low)
            } else {
                decoded.append(byte)
            }
        }
        return decoded
    }

    /// Decodes one component that must be UTF-8 text. O(n) in the component's length.
    package static func decodeText(_ component: ArraySlice<UInt8>, plusIsSpace: Bool = false)
        throws(HTTPError) -> String
    {
        // Nearly every name and receipt is plain ASCII, which is its own text.
        guard hasEscapes(component, plusIsSpace: plusIsSpace, orNonASCII: true) else {
            return component.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
        }
        let bytes = try decode(component, plusIsSpace: plusIsSpace)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw HTTPError.badRequest(
                "'\(String(decoding: component, as: UTF8.self))' does not decode to UTF-8 text.")
        }
        return text
    }

    /// Whether `component` holds a `%`, or a `+` when it stands for a space, or with
    /// `orNonASCII` a byte over 127: whether it is not its own decoding (as ASCII text). O(n),
    /// a few instructions a byte.
    private static func hasEscapes(_ component: ArraySlice<UInt8>, plusIsSpace: Bool, orNonASCII: Bool)
        -> Bool
    {
        let plusMark = plusIsSpace ? plus : percent
        let highest: UInt8 = orNonASCII ? 0x7F : 0xFF
        return component.withUnsafeBufferPointer { bytes in
            for byte in bytes where byte == percent || byte == plusMark || byte > highest {
                return true
            }
            return false
        }
    }

    private static let percent = UInt8(ascii: "%")
    private static let plus = UInt8(ascii: "+")

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func invalidEscape(in component: ArraySlice<UInt8>) -> HTTPError {
        .badRequest(
            "'\(String(decoding: component, as: UTF8.self))' has a '%' that is not followed by "
                + "two hexadecimal digits.")
    }
}
