import Testing

@testable import Keyspace

/// The receipts of leases: SipHash-2-4-128 against the reference implementation's vectors, and
/// receipts that name one delivery of one queue and cannot be forged into another.
@Suite("Receipts")
struct ReceiptTests {
    /// SipHash-2-4-128 of the messages 0x00…0x(n-1) under the key 0x00…0x0f, from the
    /// reference implementation's vectors.h, by message length.
    static let vectors: [Int: String] = [
        0: "a3817f04ba25a8e66df67214c7550293",
        1: "da87c1d86b99af44347659119b22fc45",
        7: "a1f1ebbed8dbc153c0b84aa61ff08239",
        8: "3b62a9ba6258f5610f83e264f31497b4",
        15: "5493e99933b0a8117e08ec0f97cfc3d9",
        16: "6ee2a4ca67b054bbfd3315bf85230577",
        63: "5150d1772f50834a503e069a973fbd7c",
    ]

    @Test(arguments: vectors.keys.sorted())
    func sipHashMatchesTheReferenceVectors(length: Int) {
        let key = (UInt64(0x0706_0504_0302_0100), UInt64(0x0f0e_0d0c_0b0a_0908))
        var hasher = SipHasher(key: key)
        hasher.combine((0..<UInt8(length)).map { $0 })
        let (first, second) = hasher.finalize()
        let bytes = [first, second].flatMap { word in
            (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }
        }
        let hex = bytes.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }
        #expect(hex.joined() == Self.vectors[length])
    }

    /// A number is absorbed as its 8 bytes, little-endian, after any number of bytes.
    @Test(arguments: 0..<8)
    func aNumberIsAbsorbedAsItsBytes(after count: Int) {
        let key = (UInt64(0x0706_0504_0302_0100), UInt64(0x0f0e_0d0c_0b0a_0908))
        let number: UInt64 = 0x8877_6655_4433_2211
        var whole = SipHasher(key: key)
        var bytewise = SipHasher(key: key)
        for byte in 0..<UInt8(count) {
            whole.combine(byte)
            bytewise.combine(byte)
        }
        whole.combine(number)
        whole.combine(UInt8(0xAB))
        bytewise.combine((0..<8).map { UInt8(truncatingIfNeeded: number >> (8 * $0)) } + [0xAB])
        #expect(whole.finalize() == bytewise.finalize())
    }

    @Test func aReceiptNamesItsLeaseInItsQueueOnly() throws {
        let signer = ReceiptSigner(key: ReceiptSigner.makeKey())
        let lease = LeaseReference(message: 12, lease: 1 << 40)
        let queue = try Key("jobs")
        let receipt = signer.receipt(for: lease, in: queue)
        #expect(receipt.count == ReceiptSigner.receiptLength)
        #expect(
            receipt.utf8.allSatisfy {
                $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 < 123)
            })
        #expect(try signer.lease(of: receipt, in: queue) == lease)
        // Another queue, another signer, or any one character changed: not a receipt of this
        // server for this queue.
        #expect(try signer.lease(of: receipt, in: Key("jobs2")) == nil)
        #expect(try ReceiptSigner(key: ReceiptSigner.makeKey()).lease(of: receipt, in: queue) == nil)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for position in 0..<receipt.count {
            var characters = Array(receipt)
            let index = alphabet.firstIndex(of: characters[position]) ?? 0
            characters[position] = alphabet[(index + 1) % alphabet.count]
            #expect(try signer.lease(of: String(characters), in: queue) == nil, "position \(position)")
        }
    }

    /// Receipts outlive restarts and upgrades: the same key, lease and queue give the same
    /// receipt as the first signer's.
    @Test func aReceiptIsTheSameAcrossVersions() throws {
        let signer = ReceiptSigner(key: Array(0..<UInt8(ReceiptSigner.keyLength)))
        let lease = LeaseReference(message: 0x0102_0304_0506_0708, lease: 77)
        #expect(
            signer.receipt(for: lease, in: try Key("a-queue"))
                == "AQgHBgUEAwIBTQAAAAAAAAD9C2ysb57X_GONiVqUPRkM")
    }

    @Test(arguments: [
        "", "short", String(repeating: "*", count: 44), String(repeating: "A", count: 43),
        String(repeating: "A", count: 45),
    ])
    func somethingElseThanAReceiptIsRefused(text: String) {
        let signer = ReceiptSigner(key: ReceiptSigner.makeKey())
        #expect(throws: KeyspaceError.self) { try signer.lease(of: text, in: Key("q")) }
    }
}
