import Glibc
import Logging
import Plumbing

/// The socket of an upgraded connection: sends bytes from any thread, through a bounded buffer,
/// and closes gracefully.
///
/// A send writes straight to the socket when nothing is waiting before it; what the kernel
/// does not take waits in the buffer until the loop sees the socket writable. A client that
/// stops reading fills the buffer, and further sends are refused: memory stays bounded, and
/// whoever sends learns at once that the client is not keeping up.
///
/// The descriptor is used under the socket's lock only while the socket is not finished, and
/// it is finished (libmicrohttpd closes the descriptor) under the same lock, so no thread can
/// write to a descriptor that was closed and reused.
///
/// Over TLS the descriptor is one end of a socket pair, and libmicrohttpd's thread forwards
/// between its other end and the client's TLS connection (the transport). libmicrohttpd 0.9.75
/// does not tell the pair when the client leaves, nor close the client's connection when the
/// pair's writes are shut: the transport is watched for hang-up here, and a closing socket is
/// given back as soon as all it sends is in the pair, since libmicrohttpd then forwards the rest
/// and ends the TLS session itself.
package final class UpgradedSocket: Sendable {
    private enum Phase {
        case open
        /// Closing: everything queued is sent, then the write side is shut, then the loop
        /// waits for the client to close its side, or for the deadline.
        case closing(deadline: ContinuousClock.Instant)
        case finished
    }

    private struct State {
        var phase = Phase.open
        var pending: [UInt8] = []
        /// How much of `pending` is already sent.
        var sent = 0
        var isWatchingWrites = false
        var hasShutDownWrites = false
        var isServiceRequested = false
        /// A write failed (the client reset the connection): the loop finishes the socket.
        var hasFailed = false
        /// Over TLS: the client's connection hung up, and this end's writes are shut.
        var isTransportGone = false
        /// Over TLS: closing, everything is in the pair and its writes are shut, so the socket
        /// is given back at once; libmicrohttpd forwards what it holds, then closes.
        var isHandedOver = false

        /// Whether the loop must finish the socket now.
        var mustFinish: Bool { hasFailed || isHandedOver }

        var pendingCount: Int { pending.count - sent }
    }

    /// The socket's number in the loop; never reused, unlike descriptors.
    let id: UInt64
    /// What serves the socket.
    let handler: any UpgradeHandler
    private let descriptor: Int32
    /// Over TLS, the client's socket, which libmicrohttpd forwards to and from `descriptor`;
    /// open until the socket is given back, and only watched and shut down here.
    private let transport: Int32?
    private let handle: UpgradeResponseHandle
    private let loop: UpgradeLoop
    private let state = Mutex(State())

    init(
        id: UInt64, descriptor: Int32, transport: Int32?, handle: UpgradeResponseHandle,
        handler: any UpgradeHandler, loop: UpgradeLoop
    ) {
        self.id = id
        self.descriptor = descriptor
        self.transport = transport
        self.handle = handle
        self.handler = handler
        self.loop = loop
    }

    /// Sends `bytes` after everything sent before; any thread.
    ///
    /// Returns `false`, sending nothing, when the socket is closing or closed, or when more
    /// than the server's send-buffer limit is still waiting for the client to read it. A single
    /// send larger than the limit is taken when nothing waits.
    package func send(_ bytes: [UInt8]) -> Bool {
        let (isSent, mustAttend) = state.withLock { state -> (Bool, Bool) in
            guard case .open = state.phase, !state.hasFailed,
                state.pendingCount <= loop.maxBufferedBytes
            else { return (false, false) }
            enqueue(bytes, in: &state)
            return (!state.hasFailed, state.hasFailed)
        }
        if mustAttend {
            loop.schedule(self)
        }
        return isSent
    }

    /// Closes gracefully; any thread, any number of times.
    ///
    /// `farewell` (a close frame) is queued after everything sent before, whatever the limit;
    /// once all is sent, the write side is shut, and the socket is finished when the client
    /// closes its side or after the server's close timeout. Nothing is sent after this.
    package func close(sending farewell: [UInt8] = []) {
        let mustAttend = state.withLock { state -> Bool in
            guard case .open = state.phase else { return false }
            state.phase = .closing(deadline: .now + loop.closeTimeout)
            enqueue(farewell, in: &state)
            return state.mustFinish
        }
        if mustAttend {
            loop.schedule(self)
        }
    }

    /// Asks for the handler's `serve()` on the loop thread soon; any thread, cheap, and
    /// requests made before the call are served by one call.
    package func requestService() {
        let isNew = state.withLock { state in
            guard !state.isServiceRequested, case .open = state.phase else { return false }
            state.isServiceRequested = true
            return true
        }
        if isNew {
            loop.schedule(self)
        }
    }

    /// Whether the socket takes sends: not once closing.
    package var isOpen: Bool {
        state.withLock { state in
            if case .open = state.phase, !state.hasFailed { return true }
            return false
        }
    }

    /// Bytes waiting for the client to read them.
    package var bufferedByteCount: Int {
        state.withLock { $0.pendingCount }
    }

    // MARK: The loop's side, on its thread

    /// What reading found.
    enum ReadOutcome {
        /// Nothing more for now.
        case drained
        /// The client closed its side, or the connection failed: finish the socket.
        case ended
    }

    /// Reads what the client sent into `buffer`, handing it to the handler while the socket is
    /// open and dropping it once closing. Reads at most a few buffers, so that one busy client
    /// does not hold the loop; the loop comes back while input is left.
    func readAvailable(into buffer: UnsafeMutableBufferPointer<UInt8>) -> ReadOutcome {
        for _ in 0..<4 {
            let count = recv(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count == 0 {
                return .ended
            }
            if count < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: return .drained
                default: return .ended
                }
            }
            if isOpen {
                handler.received(UnsafeBufferPointer(rebasing: buffer[..<count]).span)
            }
            if count < buffer.count {
                return .drained
            }
        }
        return .drained
    }

    /// Sends what waits, now that the socket may be writable; `false` if the socket failed or
    /// must be given back.
    func flush() -> Bool {
        state.withLock { state in
            guard !state.mustFinish else { return false }
            if case .finished = state.phase { return true }
            writePending(&state)
            return !state.mustFinish
        }
    }

    /// Over TLS, the client's connection reported a hang-up, which libmicrohttpd does not pass
    /// on to the pair. Shutting this end's writes tells libmicrohttpd that nothing more comes
    /// from here; it then breaks the pair once it has forwarded all the client sent, so the loop
    /// reads all of it and then the end of file, as from a plain socket. Sends fail from now on.
    /// (TLS has no half-closed connection a client could still read from.)
    func transportHungUp() {
        state.withLock { state in
            if case .finished = state.phase { return }
            guard !state.isTransportGone else { return }
            state.isTransportGone = true
            // It fails only if the pair is already broken, which the loop reads as the end.
            _ = shutdown(descriptor, Int32(SHUT_WR))
        }
    }

    /// Serves a request for attention; `false` if the socket failed or must be given back, and
    /// must be finished.
    func attend() -> Bool {
        let (isServiceDue, mustFinish) = state.withLock { state in
            defer { state.isServiceRequested = false }
            if case .open = state.phase {
                return (state.isServiceRequested, state.mustFinish)
            }
            return (false, state.mustFinish)
        }
        if isServiceDue && !mustFinish {
            handler.serve()
        }
        return !mustFinish
    }

    /// Whether the socket is closing and its close timeout has passed.
    func isPastCloseDeadline(_ now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            if case .closing(let deadline) = state.phase { return now >= deadline }
            return false
        }
    }

    /// Whether the socket is open, for ticks and the stop announcement.
    var isServed: Bool {
        state.withLock { state in
            if case .open = state.phase { return true }
            return false
        }
    }

    /// Stops watching the socket and gives it back to libmicrohttpd, which closes it; `false`
    /// if it was already finished.
    func finish() -> Bool {
        state.withLock { state in
            if case .finished = state.phase { return false }
            let isHandedOver = state.isHandedOver
            state.phase = .finished
            state.pending = []
            state.sent = 0
            loop.unwatch(descriptor)
            if let transport {
                loop.unwatch(transport)
                release(transport, isHandedOver: isHandedOver)
            }
            if !handle.close() {
                loop.logger.error("libmicrohttpd refused to close an upgraded socket")
            }
            return true
        }
    }

    /// Registers the socket, and over TLS its transport, with the loop's epoll set; `false` on
    /// failure.
    func watch() -> Bool {
        guard loop.watch(descriptor, id: id, writable: false, isNew: true) else { return false }
        guard let transport else { return true }
        guard loop.watchTransport(transport, id: id) else {
            loop.unwatch(descriptor)
            return false
        }
        return true
    }

    /// Over TLS, bounds how long libmicrohttpd keeps the client's connection once given back:
    /// it forwards what it holds before closing, with no timeout of its own, so a client that
    /// stops reading would keep it forever. A socket handed over gracefully gets the kernel's
    /// user timeout (unacknowledged or unsendable data for that long ends the connection); any
    /// other is shut down at once, as its client is gone or failed. The transport is open here:
    /// libmicrohttpd closes it only after the socket is given back.
    private func release(_ transport: Int32, isHandedOver: Bool) {
        guard isHandedOver else {
            // It fails only for a connection already shut, which is what is wanted.
            _ = shutdown(transport, Int32(SHUT_RDWR))
            return
        }
        var timeout = UInt32(clamping: loop.closeTimeout.wholeMilliseconds)
        let isSet = setsockopt(
            transport, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &timeout, socklen_t(MemoryLayout<UInt32>.size))
        if isSet != 0 {
            loop.logger.debug(
                "Cannot bound the close of an upgraded TLS connection; it is shut down",
                metadata: ["errno": "\(errno)"])
            _ = shutdown(transport, Int32(SHUT_RDWR))
        }
    }

    // MARK: Writing, under the lock

    /// Sends `bytes` after what waits, keeping what the kernel does not take.
    private func enqueue(_ bytes: [UInt8], in state: inout State) {
        guard !bytes.isEmpty else {
            writePending(&state)
            return
        }
        if state.pendingCount == 0 {
            // The common case: nothing waits, so the bytes go straight to the kernel.
            guard let written = write(bytes[...]) else {
                fail(&state)
                return
            }
            state.pending.removeAll(keepingCapacity: state.pending.capacity <= Self.keptCapacity)
            state.sent = 0
            state.pending += bytes[written...]
        } else {
            state.pending += bytes
        }
        writePending(&state)
    }

    /// Writes what waits until the kernel stops taking it, then watches for room if anything is
    /// left, and shuts the write side once a closing socket has sent everything.
    private func writePending(_ state: inout State) {
        if state.pendingCount > 0 {
            guard let written = write(state.pending[state.sent...]) else {
                fail(&state)
                return
            }
            state.sent += written
            if state.pendingCount == 0 {
                state.pending.removeAll(keepingCapacity: state.pending.capacity <= Self.keptCapacity)
                state.sent = 0
            } else if state.sent >= state.pending.count / 2 {
                state.pending.removeFirst(state.sent)
                state.sent = 0
            }
        }
        let mustWatchWrites = state.pendingCount > 0
        if mustWatchWrites != state.isWatchingWrites {
            state.isWatchingWrites = mustWatchWrites
            _ = loop.watch(descriptor, id: id, writable: mustWatchWrites, isNew: false)
        }
        if case .closing = state.phase, state.pendingCount == 0, !state.hasShutDownWrites {
            state.hasShutDownWrites = true
            _ = shutdown(descriptor, Int32(SHUT_WR))
            // Over TLS the client never sees this end of file: libmicrohttpd closes its
            // connection only once the socket is given back, so that is done now, rather than
            // after waiting for a client that waits for the server to close first (RFC 6455).
            state.isHandedOver = transport != nil && !state.isTransportGone
        }
    }

    /// Writes as much of `bytes` as the kernel takes now; `nil` when the connection failed.
    private func write(_ bytes: ArraySlice<UInt8>) -> Int? {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { bytes in
                Glibc.send(
                    descriptor, bytes.baseAddress! + written, bytes.count - written,
                    Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if count >= 0 {
                written += count
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return written
            default: return nil
            }
        }
        return written
    }

    /// A write failed: nothing more is sent, and the loop finishes the socket.
    private func fail(_ state: inout State) {
        state.hasFailed = true
        state.pending = []
        state.sent = 0
    }

    /// The largest buffer kept for reuse once emptied; bigger ones are freed.
    private static let keptCapacity = 16 * 1024
}
