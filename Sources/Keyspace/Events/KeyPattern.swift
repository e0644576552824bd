/// A Redis glob over keys: `*` any run, `?` one character, `[abc]`, `[a-z]` and `[^…]` sets,
/// `\` escaping the next character.
///
/// Characters are Unicode scalars, not bytes: `?` matches `é` as one character, since keys are
/// text. Matching is O(n × m) at worst for n scalars of key and m of pattern.
package struct KeyPattern: Sendable, Hashable, CustomStringConvertible {
    private enum Element: Hashable {
        case scalar(Unicode.Scalar)
        case anyOne
        case anyRun
        case set([ClosedRange<UInt32>], isNegated: Bool)
    }

    private let elements: [Element]
    /// The pattern as given.
    package let description: String

    /// Compiles a pattern; an unterminated `[` set or a trailing `\` is refused.
    package init(_ pattern: String) throws(KeyspaceError) {
        var elements: [Element] = []
        var scalars = Array(pattern.unicodeScalars)[...]
        while let scalar = scalars.popFirst() {
            switch scalar {
            case "*":
                if elements.last != .anyRun {
                    elements.append(.anyRun)
                }
            case "?":
                elements.append(.anyOne)
            case "\\":
                guard let escaped = scalars.popFirst() else {
                    throw .invalidPattern("'\(pattern)' ends with an unescaped '\\'.")
                }
                elements.append(.scalar(escaped))
            case "[":
                elements.append(try Self.set(from: &scalars, in: pattern))
            default:
                elements.append(.scalar(scalar))
            }
        }
        self.elements = elements
        description = pattern
    }

    /// Whether the key matches the whole pattern.
    package func matches(_ key: Key) -> Bool {
        // An ASCII key is its own scalars: matched in place, with no array of scalars built.
        if key.bytes.allSatisfy({ $0 < 0x80 }) {
            return key.bytes.withUnsafeBufferPointer { Self.match(elements[...], $0) }
        }
        return Self.match(elements[...], key.text.unicodeScalars.map(\.value))
    }

    private static func set(from scalars: inout ArraySlice<Unicode.Scalar>, in pattern: String)
        throws(KeyspaceError) -> Element
    {
        var ranges: [ClosedRange<UInt32>] = []
        let isNegated = scalars.first == "^"
        if isNegated {
            scalars.removeFirst()
        }
        while let scalar = scalars.popFirst() {
            if scalar == "]" {
                return .set(ranges, isNegated: isNegated)
            }
            var low = scalar
            if low == "\\" {
                guard let escaped = scalars.popFirst() else { break }
                low = escaped
            }
            if scalars.first == "-", scalars.count >= 2, scalars[scalars.startIndex + 1] != "]" {
                scalars.removeFirst()
                var high = scalars.removeFirst()
                if high == "\\", let escaped = scalars.popFirst() {
                    high = escaped
                }
                ranges.append(min(low.value, high.value)...max(low.value, high.value))
            } else {
                ranges.append(low.value...low.value)
            }
        }
        throw .invalidPattern("'\(pattern)' has a '[' without its ']'.")
    }

    /// Matches with backtracking over the last `*` only, which is enough for globs. `key`
    /// holds scalar values.
    private static func match<Scalars: RandomAccessCollection>(_ pattern: ArraySlice<Element>, _ key: Scalars)
        -> Bool where Scalars.Element: BinaryInteger, Scalars.Index == Int
    {
        var patternIndex = pattern.startIndex
        var keyIndex = key.startIndex
        var lastStar: (pattern: Int, key: Int)?
        while keyIndex < key.endIndex {
            if patternIndex < pattern.endIndex {
                switch pattern[patternIndex] {
                case .anyRun:
                    lastStar = (patternIndex, keyIndex)
                    patternIndex += 1
                    continue
                case .anyOne:
                    patternIndex += 1
                    keyIndex += 1
                    continue
                case .scalar(let scalar) where scalar.value == UInt32(key[keyIndex]):
                    patternIndex += 1
                    keyIndex += 1
                    continue
                case .set(let ranges, let isNegated)
                where ranges.contains(where: { $0.contains(UInt32(key[keyIndex])) }) != isNegated:
                    patternIndex += 1
                    keyIndex += 1
                    continue
                default:
                    break
                }
            }
            guard let star = lastStar else { return false }
            // Let the last `*` take one more character and try again from there.
            lastStar = (star.pattern, star.key + 1)
            patternIndex = star.pattern + 1
            keyIndex = star.key + 1
        }
        while patternIndex < pattern.endIndex, pattern[patternIndex] == .anyRun {
            patternIndex += 1
        }
        return patternIndex == pattern.endIndex
    }
}
