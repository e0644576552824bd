/// The first record of every log and snapshot file: what the file is and where it belongs.
struct FileHeader: Equatable {
    /// The two kinds of file in a data directory.
    enum Kind: UInt8 {
        /// An append-only log of changes.
        case log = 1
        /// A snapshot of the whole keyspace.
        case snapshot = 2
    }

    /// Marks a Keygate file, whatever its name.
    private static let magic = Array("keygate\n".utf8)
    /// The format this build writes and reads.
    static let formatVersion: UInt64 = 1

    /// The kind of file.
    var kind: Kind
    /// A log's number; for a snapshot, the number of the log that follows it.
    var generation: UInt64
    /// For a snapshot: the newest version given out, so versions stay unique after a restart.
    var lastVersion: UInt64 = 0
    /// For a snapshot: the id of the newest event, so ids go on after a restart.
    var lastEventID: UInt64 = 0
    /// When the file was started.
    var createdAt: Timestamp

    /// Writes the header's body.
    func encode(into encoder: inout RecordEncoder) {
        for byte in Self.magic {
            encoder.write(byte: byte)
        }
        encoder.write(byte: kind.rawValue)
        encoder.write(varint: Self.formatVersion)
        encoder.write(varint: generation)
        encoder.write(varint: lastVersion)
        encoder.write(varint: lastEventID)
        encoder.write(timestamp: createdAt)
    }

    /// Reads a header's body.
    init(decoding decoder: inout RecordDecoder) throws(RecordDecoder.Malformed) {
        for byte in Self.magic {
            guard try decoder.readByte() == byte else {
                throw RecordDecoder.Malformed(reason: "not a Keygate file")
            }
        }
        let kindByte = try decoder.readByte()
        guard let kind = Kind(rawValue: kindByte) else {
            throw RecordDecoder.Malformed(reason: "unknown file kind \(kindByte)")
        }
        let format = try decoder.readVarint()
        guard format == Self.formatVersion else {
            throw RecordDecoder.Malformed(
                reason: "format \(format); this build reads format \(Self.formatVersion)")
        }
        self.kind = kind
        generation = try decoder.readVarint()
        lastVersion = try decoder.readVarint()
        lastEventID = try decoder.readVarint()
        guard let createdAt = try decoder.readTimestamp() else {
            throw RecordDecoder.Malformed(reason: "no creation time")
        }
        self.createdAt = createdAt
        try decoder.finish()
    }

    /// Creates a header.
    init(
        kind: Kind, generation: UInt64, lastVersion: UInt64 = 0, lastEventID: UInt64 = 0, createdAt: Timestamp
    ) {
        self.kind = kind
        self.generation = generation
        self.lastVersion = lastVersion
        self.lastEventID = lastEventID
        self.createdAt = createdAt
    }
}
