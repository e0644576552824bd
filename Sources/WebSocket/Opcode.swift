/// The kind of a frame (RFC 6455, section 5.2).
enum Opcode: UInt8 {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// Whether frames of this kind are control frames: never fragmented, at most 125 bytes.
    var isControl: Bool { rawValue & 0x8 != 0 }
}
