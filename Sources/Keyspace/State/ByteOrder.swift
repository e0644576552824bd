/// Lexicographic comparison of byte strings.
package enum ByteOrder {
    /// Negative, zero or positive as `lhs` sorts before, equal to or after `rhs`. O(n).
    package static func compare(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int {
        lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in compare(left, right) }
        }
    }

    /// Negative, zero or positive as `lhs` sorts before, equal to or after `rhs`. O(n).
    package static func compare(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Int {
        let common = min(lhs.count, rhs.count)
        var index = 0
        // Eight bytes at a time while they are equal.
        while index + 8 <= common
            && lhs.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                == rhs.loadUnaligned(fromByteOffset: index, as: UInt64.self)
        {
            index += 8
        }
        while index < common {
            if lhs[index] != rhs[index] {
                return lhs[index] < rhs[index] ? -1 : 1
            }
            index += 1
        }
        return lhs.count - rhs.count
    }

    /// Whether the two byte strings are equal. O(n).
    static func equal(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var index = 0
        while index + 8 <= lhs.count {
            guard
                lhs.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    == rhs.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            else { return false }
            index += 8
        }
        while index < lhs.count {
            guard lhs[index] == rhs[index] else { return false }
            index += 1
        }
        return true
    }
}
