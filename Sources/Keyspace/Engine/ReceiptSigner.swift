/// Makes the receipts of leases and reads them back: what a consumer acknowledges, extends or
/// releases a delivery with.
///
/// A receipt is 33 bytes in base64url (44 characters): a format byte, the message's number,
/// the lease's number, and a 128-bit SipHash-2-4 tag, under a key of 128 random bits, over all
/// of these and the queue's name. It names one delivery of one message of one queue, and only
/// the server can make one: changing a byte of a receipt, or using it on another queue, gives
/// one that is not valid (a guess is right with a chance of one in 2^128). SipHash is a keyed
/// function made for short inputs: a receipt costs some thousand instructions to sign or
/// check, where an HMAC-SHA256 cost twenty times as much, a fifth of a receive. The built-in
/// engine keeps the key in the data directory, so that receipts outlive a restart; the NATS
/// engine keeps it on the cluster, so that every gateway reads the receipts of the others.
package struct ReceiptSigner: Sendable {
    /// The bytes of a key.
    package static let keyLength = 16
    /// The characters of a receipt.
    static let receiptLength = 44

    private static let format: UInt8 = 1
    private static let alphabet = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private let key: (UInt64, UInt64)

    /// A signer with `key`, `keyLength` bytes.
    package init(key: [UInt8]) {
        precondition(key.count == Self.keyLength, "a receipt key is \(Self.keyLength) bytes")
        self.key = (Self.number(in: key, at: 0), Self.number(in: key, at: 8))
    }

    /// A new random key, from the system's secure generator.
    package static func makeKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<keyLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The receipt of `lease` in `queue`. O(length of the queue's name), with no allocation
    /// but the text's.
    package func receipt(for lease: LeaseReference, in queue: Key) -> String {
        let tag = tag(of: lease, queue: queue)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.byteLength) { bytes in
            bytes[0] = Self.format
            Self.store(lease.message, in: bytes, at: 1)
            Self.store(lease.lease, in: bytes, at: 9)
            Self.store(tag.0, in: bytes, at: 17)
            Self.store(tag.1, in: bytes, at: 25)
            return Self.encode(UnsafeBufferPointer(bytes))
        }
    }

    /// The lease a receipt names in `queue`: `nil` when it was not made for this queue (or
    /// not by this server). Throws `.invalidReceipt` when it is not in the form of a receipt.
    package func lease(of receipt: String, in queue: Key) throws(KeyspaceError) -> LeaseReference? {
        guard let parts = Self.parts(of: receipt) else {
            throw .invalidReceipt(
                "A receipt is the \(Self.receiptLength) characters of URL-safe base64 a receive gave out; "
                    + "this is not one.")
        }
        // The form is all a client can check (the contract's pattern): another format byte is a
        // receipt this server did not give out, as a forged one, rather than a malformed one.
        guard parts.format == Self.format else { return nil }
        let expected = tag(of: parts.lease, queue: queue)
        // Compared in constant time, so that timing tells nothing of the right tag.
        let difference = (expected.0 ^ parts.tag.0) | (expected.1 ^ parts.tag.1)
        return difference == 0 ? parts.lease : nil
    }

    private func tag(of lease: LeaseReference, queue: Key) -> (UInt64, UInt64) {
        var hasher = SipHasher(key: key)
        hasher.combine(Self.format)
        hasher.combine(lease.message)
        hasher.combine(lease.lease)
        hasher.combine(queue.bytes)
        return hasher.finalize()
    }

    /// The bytes of a receipt: its format, message, lease and tag.
    private static let byteLength = 33

    /// What a receipt's bytes hold.
    private struct Parts {
        let format: UInt8
        let lease: LeaseReference
        let tag: (UInt64, UInt64)
    }

    /// The parts of a receipt's text, 44 characters of base64url; `nil` for anything else.
    private static func parts(of receipt: String) -> Parts? {
        var receipt = receipt
        return receipt.withUTF8 { characters -> Parts? in
            guard characters.count == receiptLength else { return nil }
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: byteLength) { bytes -> Parts? in
                guard decode(characters, into: bytes) else { return nil }
                let bytes = UnsafeBufferPointer(bytes)
                return Parts(
                    format: bytes[0],
                    lease: LeaseReference(message: number(in: bytes, at: 1), lease: number(in: bytes, at: 9)),
                    tag: (number(in: bytes, at: 17), number(in: bytes, at: 25)))
            }
        }
    }

    /// Writes `number`'s 8 bytes, little-endian, from `offset`.
    private static func store(_ number: UInt64, in bytes: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        for index in 0..<8 {
            bytes[offset + index] = UInt8(truncatingIfNeeded: number >> UInt64(8 * index))
        }
    }

    private static func number(in bytes: some Collection<UInt8>, at offset: Int) -> UInt64 {
        var number: UInt64 = 0
        for index in (0..<8).reversed() {
            number = number << 8 | UInt64(bytes[bytes.index(bytes.startIndex, offsetBy: offset + index)])
        }
        return number
    }

    /// Base64url without padding, of a multiple of 3 bytes.
    private static func encode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        alphabet.withUnsafeBufferPointer { alphabet in
            String(unsafeUninitializedCapacity: bytes.count / 3 * 4) { text in
                var written = 0
                for start in stride(from: 0, to: bytes.count, by: 3) {
                    let group =
                        UInt32(bytes[start]) << 16 | UInt32(bytes[start + 1]) << 8 | UInt32(bytes[start + 2])
                    text[written] = alphabet[Int(group >> 18 & 63)]
                    text[written + 1] = alphabet[Int(group >> 12 & 63)]
                    text[written + 2] = alphabet[Int(group >> 6 & 63)]
                    text[written + 3] = alphabet[Int(group & 63)]
                    written += 4
                }
                return written
            }
        }
    }

    /// Decodes base64url `characters`, a multiple of 4 of them, into `bytes`, 3 for every 4;
    /// `false` at a character that is not base64url.
    private static func decode(
        _ characters: UnsafeBufferPointer<UInt8>, into bytes: UnsafeMutableBufferPointer<UInt8>
    ) -> Bool {
        sextets.withUnsafeBufferPointer { sextets in
            var written = 0
            for start in stride(from: 0, to: characters.count, by: 4) {
                var group: UInt32 = 0
                for character in characters[start..<start + 4] {
                    let value = sextets[Int(character)]
                    guard value < 64 else { return false }
                    group = group << 6 | UInt32(value)
                }
                bytes[written] = UInt8(truncatingIfNeeded: group >> 16)
                bytes[written + 1] = UInt8(truncatingIfNeeded: group >> 8)
                bytes[written + 2] = UInt8(truncatingIfNeeded: group)
                written += 3
            }
            return true
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
