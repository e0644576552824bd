/// How often each key was read lately, estimated in a fixed table of 4-bit counters: TinyLFU's
/// count-min sketch (Einziger, Friedman and Manes, 2017), in the block layout Caffeine uses.
///
/// A key's hash picks one 64-bit word and four of its sixteen counters; its estimate is the
/// smallest of the four. Every `period` increments all counters are halved, so that the
/// sketch forgets the past; Caffeine's period, ten times the keys the cache holds, is what
/// lets the tail of a skewed popularity build counts before they are halved. Keys that are not held count
/// too, which is what lets a new key prove it is worth keeping.
struct FrequencySketch {
    private var words: [UInt64]
    private let mask: Int
    private let period: Int
    private var increments = 0

    /// A sketch of `wordCount` words (rounded up to a power of two), 8 bytes each, halved
    /// after every `period` counted reads.
    init(wordCount: Int, period: Int) {
        var count = 8
        while count < wordCount {
            count *= 2
        }
        words = [UInt64](repeating: 0, count: count)
        mask = count - 1
        self.period = max(period, 1024)
    }

    /// The heap bytes of the table.
    var bytes: Int { words.count * 8 }

    /// Counts one read of the key with `hash`. O(1), and O(words) once every `period` reads.
    mutating func increment(_ hash: UInt32) {
        let (word, spread) = place(hash)
        var added = false
        for lane in 0..<4 {
            let shift = UInt64(((spread >> (lane * 8)) & 15) * 4)
            if (words[word] >> shift) & 15 < 15 {
                words[word] += 1 << shift
                added = true
            }
        }
        guard added else { return }
        increments += 1
        if increments >= period {
            halve()
        }
    }

    /// The estimated reads of the key with `hash`, 0 to 15.
    func frequency(_ hash: UInt32) -> Int {
        let (word, spread) = place(hash)
        var least = 15
        for lane in 0..<4 {
            let shift = UInt64(((spread >> (lane * 8)) & 15) * 4)
            least = min(least, Int((words[word] >> shift) & 15))
        }
        return least
    }

    /// The word of a hash, and four counter numbers (one per byte) that are distinct in their
    /// low nibbles' lanes often enough.
    private func place(_ hash: UInt32) -> (word: Int, spread: Int) {
        var mixed = UInt64(hash) &* 0x9E37_79B9_7F4A_7C15
        mixed ^= mixed >> 29
        return (Int(truncatingIfNeeded: mixed >> 32) & mask, Int(truncatingIfNeeded: mixed & 0x0F0F_0F0F))
    }

    /// Halves every counter: the sketch's ageing.
    private mutating func halve() {
        increments /= 2
        for index in words.indices {
            words[index] = (words[index] >> 1) & 0x7777_7777_7777_7777
        }
    }
}
