import CMicroHTTPD
import Glibc
import Logging
import Plumbing

/// The socket of an upgraded connection, or of a streamed response an upgrade loop writes:
/// sends bytes from any thread, through a bounded buffer, and closes gracefully.
///
/// A send writes straight to the socket when nothing is waiting before it; what the kernel
/// does not take waits in the buffer until the loop sees the socket writable. A client that
/// stops reading fills the buffer, and further sends are refused: memory stays bounded, and
/// whoever sends learns at once that the client is not keeping up.
///
/// The descriptor is used under the socket's lock only while the socket is not finished, and
/// it is finished (libmicrohttpd closes the descriptor, or takes the stream's connection back)
/// under the same lock, so no thread can write to a descriptor that was closed and reused.
///
/// A stream's socket is not read: the loop only watches it for the client hanging up, and
/// once it is closing and everything is sent, it goes back to libmicrohttpd, which writes the
/// end of the chunked body itself.
///
/// Over TLS the descriptor is one end of a socket pair, and libmicrohttpd's thread forwards
/// between its other end and the client's TLS connection (the transport). libmicrohttpd 0.9.75
/// does not tell the pair when the client leaves, nor close the client's connection when the
/// pair's writes are shut: the transport is watched for hang-up here, and a closing socket is
/// given back as soon as all it sends is in the pair, since libmicrohttpd then forwards the rest
/// and ends the TLS session itself. (Streams over TLS stay with libmicrohttpd.)
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
        /// The client said it sends nothing more (a WebSocket client's close frame came).
        var isPeerFinished = false
        /// A stream's socket was closing and has sent everything: the loop gives it back.
        var isComplete = false
        /// Serve the handler once everything waiting is sent.
        var isServiceDueWhenDrained = false
        /// A stream's client has sent nothing, so the socket is watched for its hanging up;
        /// one that sent bytes is watched for failures only (its input stays unread).
        var isPeerQuiet = true
        /// Since when bytes have waited without the client taking any; `nil` while none wait.
        var stalledSince: ContinuousClock.Instant?

        /// Whether the loop must finish the socket now.
        var mustFinish: Bool { hasFailed || isComplete || isHandedOver }

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
    private let release: SocketRelease
    private let loop: UpgradeLoop
    private let state = Mutex(State())

    init(
        id: UInt64, descriptor: Int32, transport: Int32?, release: SocketRelease, handler: any UpgradeHandler,
        loop: UpgradeLoop
    ) {
        self.id = id
        self.descriptor = descriptor
        self.transport = transport
        self.release = release
        self.handler = handler
        self.loop = loop
    }

    /// Whether this is a streamed response's socket rather than an upgraded connection's.
    var isStream: Bool {
        if case .stream = release { return true }
        return false
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
    /// `isPeerFinished`: the client has said it sends nothing more, so that over TLS its input
    /// may be shut once the socket is given back.
    package func close(sending farewell: [UInt8] = [], isPeerFinished: Bool = false) {
        let mustAttend = state.withLock { state -> Bool in
            guard case .open = state.phase else { return false }
            state.phase = .closing(deadline: .now + loop.closeTimeout)
            state.isPeerFinished = isPeerFinished
            enqueue(farewell, in: &state)
            return state.mustFinish
        }
        if mustAttend {
            loop.schedule(self)
        }
    }

    /// Asks for the handler's `serve()` on the loop thread soon; any thread, cheap, and
    /// requests made before the call are served by one call. Returns whether nothing waits to
    /// be sent, so that what the handler sends goes out at once.
    @discardableResult
    package func requestService() -> Bool {
        let (isNew, isDrained) = state.withLock { state -> (Bool, Bool) in
            guard !state.isServiceRequested, case .open = state.phase else {
                return (false, state.pendingCount == 0)
            }
            state.isServiceRequested = true
            return (true, state.pendingCount == 0)
        }
        if isNew {
            loop.schedule(self)
        }
        return isDrained
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

    /// Asks for the handler's `serve()` once everything waiting is sent: at once when nothing
    /// waits. Any thread.
    package func requestServiceWhenDrained() {
        let isDrained = state.withLock { state in
            state.isServiceDueWhenDrained = state.pendingCount > 0
            return state.pendingCount == 0
        }
        if isDrained {
            requestService()
        }
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
        if isStream {
            return checkPeer()
        }
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

    /// For a stream's socket, which is not read: whether its client hung up, looking at its
    /// input without taking it.
    private func checkPeer() -> ReadOutcome {
        var byte: UInt8 = 0
        while true {
            let count = recv(descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            if count == 0 {
                return .ended
            }
            if count > 0 {
                // The client sent bytes, which stay for libmicrohttpd: from now on only a
                // failure of the socket is watched for, or the watch would fire without end.
                state.withLock { state in
                    guard state.isPeerQuiet else { return }
                    state.isPeerQuiet = false
                    _ = loop.watch(descriptor, id: id, for: interest(state), isNew: false)
                }
                return .drained
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .drained
            default: return .ended
            }
        }
    }

    /// Sends what waits, now that the socket may be writable; `false` if the socket failed, or
    /// must be given back (a stream's that is complete, a TLS socket handed over).
    func flush() -> Bool {
        let (isDone, mustServe) = state.withLock { state -> (Bool, Bool) in
            guard !state.mustFinish else { return (true, false) }
            if case .finished = state.phase { return (false, false) }
            writePending(&state)
            let mustServe = state.isServiceDueWhenDrained && state.pendingCount == 0
            if mustServe {
                state.isServiceDueWhenDrained = false
            }
            return (state.mustFinish, mustServe)
        }
        if mustServe {
            requestService()
        }
        return !isDone
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
        let (isServiceDue, isDone) = state.withLock { state in
            defer { state.isServiceRequested = false }
            if case .open = state.phase {
                return (state.isServiceRequested, state.mustFinish)
            }
            return (false, state.mustFinish)
        }
        if isServiceDue && !isDone {
            handler.serve()
        }
        return !isDone
    }

    /// Whether the socket is closing and its close timeout has passed, or is a stream's whose
    /// client has taken none of what waits for the loop's stall timeout (as libmicrohttpd
    /// closes a connection idle that long): either way the loop finishes it.
    func isPastDeadline(_ now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            if case .closing(let deadline) = state.phase, now >= deadline { return true }
            guard isStream, let stalledSince = state.stalledSince else { return false }
            return now - stalledSince >= loop.stallTimeout
        }
    }

    /// Whether the socket is open, for ticks and the stop announcement.
    var isServed: Bool {
        state.withLock { state in
            if case .open = state.phase { return true }
            return false
        }
    }

    /// Stops watching the socket and gives it back to libmicrohttpd, which closes it (or
    /// takes the stream's connection back); `false` if it was already finished.
    func finish() -> Bool {
        state.withLock { state in
            if case .finished = state.phase { return false }
            let isHandedOver = state.isHandedOver
            let isPeerFinished = state.isPeerFinished
            let isComplete = state.isComplete && !state.hasFailed
            state.phase = .finished
            state.pending = []
            state.sent = 0
            loop.unwatch(descriptor)
            if let transport {
                loop.unwatch(transport)
                releaseTransport(transport, isHandedOver: isHandedOver, isPeerFinished: isPeerFinished)
            }
            switch release {
            case .upgrade(let handle):
                if !handle.close() {
                    loop.logger.error("libmicrohttpd refused to close an upgraded socket")
                }
            case .stream(let connection):
                connection.handBack(isComplete: isComplete)
            }
            return true
        }
    }

    /// Registers the socket, and over TLS its transport, with the loop's epoll set; `false` on
    /// failure. Turns Nagle's algorithm off first (libmicrohttpd turns it on when it upgrades):
    /// every send is a whole message or batch of them, which waiting for an acknowledgement
    /// could only delay.
    func watch() -> Bool {
        var noDelay: Int32 = 1
        // Fails only on a socket that is not TCP (a local pair under TLS), which has no Nagle.
        _ = setsockopt(
            descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        guard loop.watch(descriptor, id: id, for: state.withLock { interest($0) }, isNew: true) else {
            return false
        }
        guard let transport else { return true }
        guard loop.watchTransport(transport, id: id) else {
            loop.unwatch(descriptor)
            return false
        }
        return true
    }

    /// What the loop watches the socket for: input and hang-up (a stream's: hang-up while its
    /// client is quiet), and room to write while anything waits.
    private func interest(_ state: State) -> EpollSet.Interest {
        var interest: EpollSet.Interest =
            switch (isStream, state.isPeerQuiet) {
            case (false, _): [.readable, .hangUp]
            case (true, true): [.hangUp]
            // Failures are reported whatever is asked.
            case (true, false): []
            }
        if state.isWatchingWrites {
            interest.insert(.writable)
        }
        return interest
    }

    /// Over TLS, bounds how long libmicrohttpd keeps the client's connection once given back:
    /// it forwards what it holds before closing, with no timeout of its own, so a client that
    /// stops reading would keep it forever. A socket handed over gracefully gets the kernel's
    /// user timeout (unacknowledged or unsendable data for that long ends the connection); any
    /// other is shut down at once, as its client is gone or failed. The transport is open here:
    /// libmicrohttpd closes it only after the socket is given back.
    private func releaseTransport(_ transport: Int32, isHandedOver: Bool, isPeerFinished: Bool) {
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
            return
        }
        // libmicrohttpd 0.9.75 shuts the pair before it marks the socket given back, and when
        // its thread handled the pair's hang-up in between, it notices nothing more until the
        // client sends: a client that answered a close frame comes back, but one that sent its
        // own waits for the server to close (1 close in 15 waited the client's 5 s). Shutting
        // the input of a client that sends nothing more shows libmicrohttpd its end of input
        // at once. Never one that still sends: libmicrohttpd would close the connection with
        // input unread, which resets it and loses what the client has yet to receive (the
        // close frame of a client that stopped reading, 6 times in 15).
        if isPeerFinished {
            _ = shutdown(transport, Int32(SHUT_RD))
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
            if written < bytes.count {
                state.stalledSince = .now
            }
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
                state.stalledSince = nil
            } else {
                if written > 0 {
                    state.stalledSince = .now
                }
                if state.sent >= state.pending.count / 2 {
                    state.pending.removeFirst(state.sent)
                    state.sent = 0
                }
            }
        }
        let mustWatchWrites = state.pendingCount > 0
        if mustWatchWrites != state.isWatchingWrites {
            state.isWatchingWrites = mustWatchWrites
            _ = loop.watch(descriptor, id: id, for: interest(state), isNew: false)
        }
        guard case .closing = state.phase, state.pendingCount == 0 else { return }
        if isStream {
            // libmicrohttpd ends the body and keeps the connection: the loop gives it back.
            state.isComplete = true
        } else if !state.hasShutDownWrites {
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
