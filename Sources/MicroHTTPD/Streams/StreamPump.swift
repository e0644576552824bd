import Plumbing

/// Writes a streamed response's body from an upgrade loop, once libmicrohttpd has suspended
/// its connection and handed the socket over (see `StreamConnection`).
///
/// Woken, it reads its source and sends each piece as one chunk of the chunked body, in one
/// write. It reads a next piece only once the socket has sent the last one, so that a client
/// that does not read makes the source wait, as libmicrohttpd would (the source then falls
/// behind the event history, not into memory); and a few pieces at a time, so that a source
/// with much to send takes turns with the loop's other sockets. When the source ends, or the
/// server stops, the socket is closed: once everything is sent, the connection goes back to
/// libmicrohttpd, which ends the body.
final class StreamPump: UpgradeHandler {
    private struct State {
        var socket: UpgradedSocket?
        var isClosing = false
    }

    /// The largest piece read from the source at a time.
    static let pieceBytes = 16 * 1024
    /// Pieces sent in one service before the pump lets the loop's other sockets go first.
    private static let piecesPerService = 4

    private let source: any HTTPStreamSource
    private let state = Mutex(State())

    /// A pump reading `source`.
    init(source: any HTTPStreamSource) {
        self.source = source
    }

    /// Asks the loop to read the source soon; returns whether it will read it at once, `false`
    /// while the client has not taken the last piece yet. Any thread.
    func wake() -> Bool {
        state.withLock { $0.socket }?.requestService() ?? false
    }

    /// Ends the stream: the socket closes once everything read is sent. Any thread.
    func close() {
        let socket = state.withLock { state in
            state.isClosing = true
            return state.socket
        }
        socket?.close()
    }

    // MARK: The loop's side

    func opened(_ socket: UpgradedSocket) {
        let isClosing = state.withLock { state in
            state.socket = socket
            return state.isClosing
        }
        if isClosing {
            socket.close()
        } else {
            // Anything that came between the source's pause and now.
            serve()
        }
    }

    func received(_ bytes: Span<UInt8>) {
        // A stream's socket is not read.
    }

    func serve() {
        guard let socket = state.withLock({ $0.socket }) else { return }
        for _ in 0..<Self.piecesPerService {
            guard socket.bufferedByteCount == 0 else {
                socket.requestServiceWhenDrained()
                return
            }
            switch source.next(limit: Self.pieceBytes) {
            case .bytes(let bytes) where !bytes.isEmpty:
                guard socket.send(Self.chunk(bytes)) else { return }
            case .bytes, .pause:
                return
            case .end:
                socket.close()
                return
            }
        }
        // More may wait: after the loop's other sockets.
        socket.requestService()
    }

    func tick(now: ContinuousClock.Instant) {}

    func serverStopping() {
        close()
    }

    func closed() {
        state.withLock { $0.socket = nil }
    }

    /// `bytes` as one chunk of a chunked body (RFC 9112, section 7.1): its size in hexadecimal,
    /// CRLF, the bytes, CRLF. O(n).
    static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        let digits = max(1, (Int.bitWidth - bytes.count.leadingZeroBitCount + 3) / 4)
        var chunk: [UInt8] = []
        chunk.reserveCapacity(digits + bytes.count + 4)
        for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
            chunk.append(Self.hexDigits[(bytes.count >> shift) & 0xF])
        }
        chunk += [0x0D, 0x0A]
        chunk += bytes
        chunk += [0x0D, 0x0A]
        return chunk
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)
}
