/// A string key as the keyspace stores it: its key, media type and value bytes in one
/// allocation behind a small header, instead of three arrays and a dictionary entry.
///
/// A record is made outside the engine's lock (the copy of a large value costs no writer any
/// wait) and is immutable once stored but for its deadline and expiry handle, which are only
/// changed when the record is uniquely referenced (a snapshot being written may share it).
final class StringRecord: ManagedBuffer<StringRecord.Header, UInt8> {
    /// A record handed across threads: made outside the lock by a writer, or taken out of it
    /// by a reader.
    ///
    /// `@unchecked Sendable` since a record crosses threads only while nobody changes it: a
    /// reader (a GET copying the value out after the lock) holds a reference of its own, so
    /// the keyspace, finding the record shared, copies it before any change; the version and
    /// deadline of a new record are set under the lock before the keyspace stores it, and the
    /// writer that made it only reads it afterwards.
    struct Handle: @unchecked Sendable {
        let record: StringRecord
    }

    /// The fixed fields; the tail holds the key's bytes, then the media type's unless it is the
    /// default one, then the value's.
    struct Header {
        var version: UInt64
        /// The deadline in Unix milliseconds; `Int64.max` for a persistent key.
        var deadline: Int64
        /// The key's place in the expiry index; -1 without a deadline.
        var expirySlot: Int32
        var valueCount: UInt32
        var keyCount: UInt16
        /// `UInt16.max` for `Payload.defaultContentType`, which is not stored.
        var contentTypeCount: UInt16
    }

    /// A record of `value` at `key`, without version or deadline yet. O(bytes), and no lock
    /// is needed.
    static func make(key: Key, value: Payload) -> StringRecord {
        let isDefaultType = value.contentType == Payload.defaultContentType
        // Media types are short header values: far below the 65 534 bytes a record can hold.
        let type: [UInt8] = isDefaultType ? [] : Array(value.contentType.utf8.prefix(Int(UInt16.max - 1)))
        let typeCount = type.count
        let total = key.bytes.count + typeCount + value.bytes.count
        let record = unsafeDowncast(
            create(minimumCapacity: total) { _ in
                Header(
                    version: 0, deadline: .max, expirySlot: -1, valueCount: UInt32(value.bytes.count),
                    keyCount: UInt16(key.bytes.count),
                    contentTypeCount: isDefaultType ? .max : UInt16(typeCount))
            }, to: StringRecord.self)
        record.withUnsafeMutablePointerToElements { tail in
            var offset = 0
            for part in [key.bytes, type] where !part.isEmpty {
                part.withUnsafeBufferPointer {
                    (tail + offset).initialize(from: $0.baseAddress!, count: $0.count)
                }
                offset += part.count
            }
            value.bytes.withUnsafeBufferPointer { bytes in
                if let base = bytes.baseAddress {
                    (tail + offset).initialize(from: base, count: bytes.count)
                }
            }
        }
        return record
    }

    /// A copy with the same fields, for changing the deadline of a record a snapshot shares.
    func copy() -> StringRecord {
        let count = tailCount
        let fields = header
        let copy = unsafeDowncast(
            StringRecord.create(minimumCapacity: count) { _ in fields }, to: StringRecord.self)
        withUnsafeMutablePointerToElements { source in
            copy.withUnsafeMutablePointerToElements { $0.initialize(from: source, count: count) }
        }
        return copy
    }

    /// The bytes of the tail: key, media type and value.
    private var tailCount: Int {
        let fields = header
        let typeCount = fields.contentTypeCount == .max ? 0 : Int(fields.contentTypeCount)
        return Int(fields.keyCount) + typeCount + Int(fields.valueCount)
    }

    /// The value's size in bytes.
    var valueCount: Int { Int(header.valueCount) }

    /// The bytes this record takes on the heap: its allocation as glibc's malloc rounds it.
    var allocatedBytes: Int {
        MemoryCost.allocation(MemoryCost.objectHeader + MemoryLayout<Header>.size + tailCount)
    }

    /// Calls `body` with the key's bytes.
    func withKeyBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        let count = Int(header.keyCount)
        return withUnsafeMutablePointerToElements { body(UnsafeRawBufferPointer(start: $0, count: count)) }
    }

    /// The key (already validated when it was stored).
    var key: Key {
        withKeyBytes { Key(validated: Array($0)) }
    }

    /// The value, copied out.
    var payload: Payload {
        let fields = header
        let keyCount = Int(fields.keyCount)
        return withUnsafeMutablePointerToElements { tail in
            let contentType: String
            var offset = keyCount
            if fields.contentTypeCount == .max {
                contentType = Payload.defaultContentType
            } else {
                let count = Int(fields.contentTypeCount)
                contentType = String(
                    decoding: UnsafeBufferPointer(start: tail + offset, count: count), as: UTF8.self)
                offset += count
            }
            let bytes = Array(UnsafeBufferPointer(start: tail + offset, count: Int(fields.valueCount)))
            return Payload(bytes: bytes, contentType: contentType)
        }
    }
}
