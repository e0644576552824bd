/// SipHash-2-4 with a 128-bit output (Aumasson and Bernstein, 2012): a keyed pseudorandom
/// function for short inputs, the MAC of lease receipts.
///
/// Bytes are absorbed one at a time (a receipt's input is some thirty bytes), with no
/// allocation. Checked against the reference implementation's vectors (`ReceiptTests`).
struct SipHasher {
    private var v0: UInt64
    private var v1: UInt64
    private var v2: UInt64
    private var v3: UInt64
    /// Bytes absorbed and not yet in a whole word, low byte first.
    private var tail: UInt64 = 0
    private var length = 0

    /// A hasher under the 128-bit key `key` (its two little-endian words).
    init(key: (UInt64, UInt64)) {
        v0 = key.0 ^ 0x736f_6d65_7073_6575
        v1 = key.1 ^ 0x646f_7261_6e64_6f6d ^ 0xee
        v2 = key.0 ^ 0x6c79_6765_6e65_7261
        v3 = key.1 ^ 0x7465_6462_7974_6573
    }

    /// Absorbs one byte.
    mutating func combine(_ byte: UInt8) {
        tail |= UInt64(byte) << UInt64(8 * (length & 7))
        length += 1
        if length & 7 == 0 {
            compress(tail)
            tail = 0
        }
    }

    /// Absorbs bytes, in order.
    mutating func combine(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            combine(byte)
        }
    }

    /// Absorbs a number as its 8 bytes, little-endian: one compression, whatever the bytes
    /// absorbed before.
    mutating func combine(_ number: UInt64) {
        let held = UInt64(8 * (length & 7))
        length += 8
        guard held > 0 else {
            compress(number)
            return
        }
        // The number's low bytes complete the word held; its high ones are held next.
        compress(tail | number << held)
        tail = number >> (64 - held)
    }

    /// The output, two words; as bytes, the first then the second, each little-endian.
    consuming func finalize() -> (UInt64, UInt64) {
        compress(UInt64(truncatingIfNeeded: length) << 56 | tail)
        v2 ^= 0xee
        rounds(4)
        let first = v0 ^ v1 ^ v2 ^ v3
        v1 ^= 0xdd
        rounds(4)
        return (first, v0 ^ v1 ^ v2 ^ v3)
    }

    private mutating func compress(_ word: UInt64) {
        v3 ^= word
        rounds(2)
        v0 ^= word
    }

    private mutating func rounds(_ count: Int) {
        for _ in 0..<count {
            v0 &+= v1
            v1 = v1.rotatedLeft(13) ^ v0
            v0 = v0.rotatedLeft(32)
            v2 &+= v3
            v3 = v3.rotatedLeft(16) ^ v2
            v0 &+= v3
            v3 = v3.rotatedLeft(21) ^ v0
            v2 &+= v1
            v1 = v1.rotatedLeft(17) ^ v2
            v2 = v2.rotatedLeft(32)
        }
    }
}

extension UInt64 {
    /// The bits rotated left by `count`, 1 to 63.
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 {
        self << count | self >> (64 - count)
    }
}
