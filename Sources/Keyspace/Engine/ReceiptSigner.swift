/// Makes the receipts of leases and reads them back: what a consumer acknowledges, extends or
/// releases a delivery with.
///
/// A receipt is 33 bytes in base64url (44 characters): a format byte, the message's number,
/// the lease's number, and a 128-bit SipHash-2-4 tag, under a key of 128 random bits, over all
/// of these and the queue's name. It names one delivery of one message of one queue, and only
/// the server can make one: changing a byte of a receipt, or using it on another queue, gives
/// one that is not valid (a guess is right with a chance of one in 2^128). SipHash is a keyed
/// function made for short inputs: a receipt costs some thousand instructions to sign or
/// check, where an HMAC-SHA256 cost twenty times as much, a fifth of a receive. The key is kept
/// in the data directory, so that receipts outlive a restart.
struct ReceiptSigner: Sendable {
    /// The bytes of a key.
    static let keyLength = 16
    /// The characters of a receipt.
    static let receiptLength = 44

    private static let format: UInt8 = 1
    private static let alphabet = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private let key: (UInt64, UInt64)

    /// A signer with `key`, `keyLength` bytes.
    init(key: [UInt8]) {
        precondition(key.count == Self.keyLength, "a receipt key is \(Self.keyLength) bytes")
        self.key = (Self.number(in: key, at: 0), Self.number(in: key, at: 8))
    }

    /// A new random key, from the system's secure generator.
    static func makeKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<keyLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The receipt of `lease` in `queue`. O(length of the queue's name).
    func receipt(for lease: LeaseReference, in queue: Key) -> String {
        let tag = tag(of: lease, queue: queue)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(33)
        bytes.append(Self.format)
        for word in [lease.message, lease.lease, tag.0, tag.1] {
            for shift in stride(from: 0, to: 64, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return Self.encode(bytes)
    }

    /// The lease a receipt names in `queue`: `nil` when it was not made for this queue (or
    /// not by this server). Throws `.invalidReceipt` when it is not in the form of a receipt.
    func lease(of receipt: String, in queue: Key) throws(KeyspaceError) -> LeaseReference? {
        guard let bytes = Self.decode(receipt) else {
            throw .invalidReceipt(
                "A receipt is the \(Self.receiptLength) characters of URL-safe base64 a receive gave out; "
                    + "this is not one.")
        }
        // The form is all a client can check (the contract's pattern): another format byte is a
        // receipt this server did not give out, as a forged one, rather than a malformed one.
        guard bytes[0] == Self.format else { return nil }
        let lease = LeaseReference(
            message: Self.number(in: bytes, at: 1), lease: Self.number(in: bytes, at: 9))
        let expected = tag(of: lease, queue: queue)
        // Compared in constant time, so that timing tells nothing of the right tag.
        let difference =
            (expected.0 ^ Self.number(in: bytes, at: 17)) | (expected.1 ^ Self.number(in: bytes, at: 25))
        return difference == 0 ? lease : nil
    }

    private func tag(of lease: LeaseReference, queue: Key) -> (UInt64, UInt64) {
        var hasher = SipHasher(key: key)
        hasher.combine(Self.format)
        hasher.combine(lease.message)
        hasher.combine(lease.lease)
        hasher.combine(queue.bytes)
        return hasher.finalize()
    }

    private static func number(in bytes: [UInt8], at offset: Int) -> UInt64 {
        var number: UInt64 = 0
        for index in (0..<8).reversed() {
            number = number << 8 | UInt64(bytes[offset + index])
        }
        return number
    }

    /// Base64url without padding, of a multiple of 3 bytes.
    private static func encode(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: bytes.count / 3 * 4) { text in
            var written = 0
            for start in stride(from: 0, to: bytes.count, by: 3) {
                let group =
                    UInt32(bytes[start]) << 16 | UInt32(bytes[start + 1]) << 8 | UInt32(bytes[start + 2])
                for shift in [18, 12, 6, 0] {
                    text[written] = alphabet[Int(group >> UInt32(shift) & 63)]
                    written += 1
                }
            }
            return written
        }
    }

    /// The 33 bytes of a receipt's text, 44 characters of base64url; `nil` for anything else.
    private static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { characters -> [UInt8]? in
            guard characters.count == receiptLength else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(33)
            for start in stride(from: 0, to: receiptLength, by: 4) {
                var group: UInt32 = 0
                for character in characters[start..<start + 4] {
                    let value = sextets[Int(character)]
                    guard value < 64 else { return nil }
                    group = group << 6 | UInt32(value)
                }
                bytes.append(UInt8(truncatingIfNeeded: group >> 16))
                bytes.append(UInt8(truncatingIfNeeded: group >> 8))
                bytes.append(UInt8(truncatingIfNeeded: group))
            }
            return bytes
        }
    }

    /// The value of each byte as a base64url character, 64 for a byte that is none.
    private static let sextets: [UInt8] = {
        var table = [UInt8](repeating: 64, count: 256)
        for (value, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()
}
