import Crypto

/// Makes the receipts of leases and reads them back: what a consumer acknowledges, extends or
/// releases a delivery with.
///
/// A receipt is 33 bytes in base64url (44 characters): a format byte, the message's number,
/// the lease's number, and the first 16 bytes of an HMAC-SHA256, under a key of 256 random
/// bits, over all of these and the queue's name. It names one delivery of one message of one
/// queue, and only the server can make one: changing a byte of a receipt, or using it on
/// another queue, gives one that is not valid. The key is kept in the data directory, so that
/// receipts outlive a restart.
struct ReceiptSigner: Sendable {
    /// The bytes of a key.
    static let keyLength = 32
    /// The characters of a receipt.
    static let receiptLength = 44

    private static let format: UInt8 = 1
    private static let tagLength = 16
    private static let alphabet = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private let key: SymmetricKey

    /// A signer with `key`, `keyLength` bytes.
    init(key: [UInt8]) {
        precondition(key.count == Self.keyLength, "a receipt key is \(Self.keyLength) bytes")
        self.key = SymmetricKey(data: key)
    }

    /// A new random key, from the system's secure generator.
    static func makeKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<keyLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The receipt of `lease` in `queue`. O(length of the queue's name).
    func receipt(for lease: LeaseReference, in queue: Key) -> String {
        var bytes = Self.signedFields(lease)
        bytes += tag(of: bytes, queue: queue)
        return Self.encode(bytes)
    }

    /// The lease a receipt names in `queue`: `nil` when it was not made for this queue (or
    /// not by this server). Throws `.invalidReceipt` when it is not in the form of a receipt.
    func lease(of receipt: String, in queue: Key) throws(KeyspaceError) -> LeaseReference? {
        guard let bytes = Self.decode(receipt), bytes.count == 33 else {
            throw .invalidReceipt(
                "A receipt is the \(Self.receiptLength) characters of URL-safe base64 a receive gave out; "
                    + "this is not one.")
        }
        // Another format is a receipt this server did not give out, as a forged one.
        guard bytes[0] == Self.format else { return nil }
        let expected = tag(of: Array(bytes[0..<17]), queue: queue)
        var difference: UInt8 = 0
        for index in 0..<Self.tagLength {
            difference |= expected[index] ^ bytes[17 + index]
        }
        guard difference == 0 else { return nil }
        return LeaseReference(message: Self.number(in: bytes, at: 1), lease: Self.number(in: bytes, at: 9))
    }

    private func tag(of fields: [UInt8], queue: Key) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: fields)
        hmac.update(data: queue.bytes)
        return Array(hmac.finalize().prefix(Self.tagLength))
    }

    private static func signedFields(_ lease: LeaseReference) -> [UInt8] {
        var bytes: [UInt8] = [format]
        bytes.reserveCapacity(33)
        for number in [lease.message, lease.lease] {
            for shift in stride(from: 0, to: 64, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: number >> UInt64(shift)))
            }
        }
        return bytes
    }

    private static func number(in bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << UInt64(8 * $1) }
    }

    /// Base64url without padding, of a multiple of 3 bytes.
    private static func encode(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count / 3 * 4)
        for start in stride(from: 0, to: bytes.count, by: 3) {
            let group = UInt32(bytes[start]) << 16 | UInt32(bytes[start + 1]) << 8 | UInt32(bytes[start + 2])
            for shift in [18, 12, 6, 0] {
                text.append(alphabet[Int(group >> UInt32(shift) & 63)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes of base64url text of a multiple of 4 characters; `nil` for anything else.
    private static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count == receiptLength else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 4 * 3)
        for start in stride(from: 0, to: characters.count, by: 4) {
            var group: UInt32 = 0
            for character in characters[start..<start + 4] {
                guard let value = sextet(of: character) else { return nil }
                group = group << 6 | value
            }
            bytes += [
                UInt8(truncatingIfNeeded: group >> 16), UInt8(truncatingIfNeeded: group >> 8),
                UInt8(truncatingIfNeeded: group),
            ]
        }
        return bytes
    }

    private static func sextet(of character: UInt8) -> UInt32? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(character - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(character - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(character - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }
}
