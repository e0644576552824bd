/// Checks UTF-8 as it arrives in pieces: a text message split across fragments may split a
/// character, and must still be refused as soon as its bytes cannot be UTF-8.
///
/// The state machine follows the Unicode standard's table of well-formed byte sequences
/// (no overlong forms, no surrogates, nothing past U+10FFFF). O(1) per byte.
struct UTF8Validator {
    /// Continuation bytes still expected for the character in progress.
    private var remaining = 0
    /// The allowed range of the next byte (narrower than 0x80...0xBF right after some leads).
    private var nextRange: ClosedRange<UInt8> = 0x80...0xBF

    /// Whether the bytes so far end on a character boundary.
    var isComplete: Bool { remaining == 0 }

    /// Feeds bytes; `false` as soon as they cannot be UTF-8.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            if remaining > 0 {
                guard nextRange.contains(byte) else { return false }
                remaining -= 1
                nextRange = 0x80...0xBF
                continue
            }
            switch byte {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: remaining = 1
            case 0xE0: (remaining, nextRange) = (2, 0xA0...0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: remaining = 2
            case 0xED: (remaining, nextRange) = (2, 0x80...0x9F)
            case 0xF0: (remaining, nextRange) = (3, 0x90...0xBF)
            case 0xF1...0xF3: remaining = 3
            case 0xF4: (remaining, nextRange) = (3, 0x80...0x8F)
            default: return false
            }
        }
        return true
    }
}
