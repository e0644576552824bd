import Glibc
import Logging
import Plumbing

import struct Synchronization.Atomic

/// A thread that serves its share of a server's upgraded sockets (see `UpgradeLoops`), with
/// its own epoll set: reads what clients send and hands it to their handlers, sends what could
/// not be sent at once, runs the handlers' service requests and ticks, and closes sockets. No
/// thread per socket: ten thousand idle sockets cost ten thousand epoll entries and nothing else.
///
/// Sockets are watched level-triggered under their unique id, never their descriptor
/// number. Other threads reach the loop through a short queue and an event descriptor.
final class UpgradeLoop: Sendable {
    /// What other threads hand to the loop.
    private struct Inbox {
        var isRunning = false
        var opening: [(socket: UpgradedSocket, input: [UInt8])] = []
        var attention: [UpgradedSocket] = []
        var isStopping = false
        var mustExit = false
    }

    /// The most a socket may have waiting to be sent before sends to it are refused.
    let maxBufferedBytes: Int
    /// How long a closing socket waits for its client to close before it is closed anyway.
    let closeTimeout: Duration
    /// How long a stream's socket may hold bytes its client takes none of before it is closed.
    let stallTimeout: Duration
    let logger: Logger
    /// Sockets handed to the loop and not yet finished; shutdown waits for zero.
    let openCount = Atomic<Int>(0)
    /// Those of them that are streamed responses rather than upgraded connections.
    let streamCount = Atomic<Int>(0)
    private let epoll: EpollSet
    private let thread: WorkerThread
    private let inbox = Mutex(Inbox())
    private let lastID = Atomic<UInt64>(0)

    /// How often handlers tick, and closing sockets are checked against their deadline.
    private static let tickInterval = Duration.seconds(1)
    /// Bytes read from a socket at a time.
    private static let readBufferSize = 64 * 1024

    /// A loop whose thread is called `name`, not started.
    init(
        name: String, maxBufferedBytes: Int, closeTimeout: Duration, stallTimeout: Duration, logger: Logger
    ) throws(HTTPServerError) {
        self.maxBufferedBytes = maxBufferedBytes
        self.closeTimeout = closeTimeout
        self.stallTimeout = stallTimeout
        self.logger = logger
        do {
            epoll = try EpollSet()
        } catch {
            throw HTTPServerError(error, detail: "Cannot serve upgraded sockets")
        }
        thread = WorkerThread(name: name, interrupt: { [epoll] in epoll.wake() })
    }

    /// Starts the thread.
    func start() {
        inbox.withLock { $0.isRunning = true }
        thread.start { [self] in
            // One round for the loop's whole life: its sockets live on this thread's stack.
            run()
            return .untilWoken
        }
    }

    /// Takes over an upgraded connection, on libmicrohttpd's thread; `input` holds bytes the
    /// client sent after its request, which libmicrohttpd had already read. Once the loop has
    /// stopped, the socket is closed at once.
    ///
    /// - Parameter transport: over TLS, the client's own socket, which libmicrohttpd forwards
    ///   to and from `descriptor` (one end of a socket pair); `nil` when `descriptor` is it.
    func open(
        descriptor: Int32, transport: Int32?, handle: UpgradeResponseHandle, handler: any UpgradeHandler,
        input: [UInt8]
    ) {
        take(
            UpgradedSocket(
                id: lastID.add(1, ordering: .relaxed).newValue, descriptor: descriptor, transport: transport,
                release: .upgrade(handle), handler: handler, loop: self),
            input: input)
    }

    /// Takes over writing a streamed response whose connection libmicrohttpd has suspended,
    /// on the connection's thread; `handler` pumps the body. Once the loop has stopped, the
    /// connection is handed back at once. Only for connections without TLS, whose socket is
    /// the client's.
    func adopt(descriptor: Int32, connection: StreamConnection, handler: any UpgradeHandler) {
        take(
            UpgradedSocket(
                id: lastID.add(1, ordering: .relaxed).newValue, descriptor: descriptor, transport: nil,
                release: .stream(connection), handler: handler, loop: self),
            input: [])
    }

    private func take(_ socket: UpgradedSocket, input: [UInt8]) {
        let isTaken = inbox.withLock { inbox in
            guard inbox.isRunning else { return false }
            openCount.add(1, ordering: .relaxed)
            if socket.isStream {
                streamCount.add(1, ordering: .relaxed)
            }
            inbox.opening.append((socket, input))
            return true
        }
        guard isTaken else {
            _ = socket.finish()
            return
        }
        signal()
    }

    /// Asks the loop to attend to `socket`: a service request, or a failure to finish it.
    func schedule(_ socket: UpgradedSocket) {
        let isFirst = inbox.withLock { inbox in
            inbox.attention.append(socket)
            return inbox.attention.count == 1
        }
        if isFirst {
            signal()
        }
    }

    /// Tells every handler, now and later, that the server stops; returns at once.
    func beginStopping() {
        inbox.withLock { $0.isStopping = true }
        signal()
    }

    /// Finishes every socket still open and stops the thread; waits for it. Idempotent.
    func stop() {
        let wasRunning = inbox.withLock { inbox in
            defer {
                inbox.isRunning = false
                inbox.mustExit = true
            }
            return inbox.isRunning
        }
        guard wasRunning else { return }
        thread.stop()
    }

    /// Watches `descriptor` for `interest`; `isNew` adds it, otherwise its watch is changed.
    /// Any thread.
    func watch(_ descriptor: Int32, id: UInt64, for interest: EpollSet.Interest, isNew: Bool) -> Bool {
        do {
            if isNew {
                try epoll.watch(descriptor, id: id, for: interest)
            } else {
                try epoll.changeWatch(descriptor, id: id, to: interest)
            }
            return true
        } catch {
            logger.error("Cannot watch an upgraded socket", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Watches `transport`, the client's socket under a TLS forwarding, for its hang-up, once,
    /// under `id` marked as a transport's. Any thread.
    func watchTransport(_ transport: Int32, id: UInt64) -> Bool {
        do {
            try epoll.watch(transport, id: id | Self.transportMark, for: [.hangUp, .oneShot])
            return true
        } catch {
            logger.error("Cannot watch an upgraded TLS connection", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Stops watching `descriptor`, before it is closed.
    func unwatch(_ descriptor: Int32) {
        epoll.unwatch(descriptor)
    }

    /// The bit that tells a transport's hang-up from its socket's events: socket ids count up
    /// from 1 and never reach it, and the wake-up id is checked first.
    private static let transportMark: UInt64 = 1 << 62

    private func signal() {
        epoll.wake()
    }

    // MARK: The thread

    private func run() {
        var sockets: [UInt64: UpgradedSocket] = [:]
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Self.readBufferSize)
        defer { buffer.deallocate() }
        var hasAnnouncedStop = false
        var nextTick = ContinuousClock.now + Self.tickInterval

        func finish(_ socket: UpgradedSocket) {
            guard socket.finish() else { return }
            sockets[socket.id] = nil
            if socket.isStream {
                streamCount.subtract(1, ordering: .relaxed)
            }
            openCount.subtract(1, ordering: .releasing)
            socket.handler.closed()
        }

        while true {
            let ids: [UInt64]
            do {
                ids = try epoll.wait(timeout: nextTick - .now)
            } catch {
                logger.critical(
                    "The upgraded sockets' loop failed; they are closed", metadata: ["error": "\(error)"])
                sockets.values.forEach(finish)
                return
            }
            var isSignalled = false
            for id in ids {
                guard id != EpollSet.wakeUpID else {
                    isSignalled = true
                    continue
                }
                if id & Self.transportMark != 0 {
                    sockets[id & ~Self.transportMark]?.transportHungUp()
                    continue
                }
                guard let socket = sockets[id] else { continue }
                if !socket.flush() || socket.readAvailable(into: buffer) == .ended {
                    finish(socket)
                }
            }
            if isSignalled {
                let inbox = inbox.withLock { inbox in
                    defer {
                        inbox.opening = []
                        inbox.attention = []
                    }
                    return inbox
                }
                for (socket, input) in inbox.opening {
                    guard socket.watch() else {
                        if socket.isStream {
                            streamCount.subtract(1, ordering: .relaxed)
                        }
                        openCount.subtract(1, ordering: .releasing)
                        _ = socket.finish()
                        continue
                    }
                    sockets[socket.id] = socket
                    socket.handler.opened(socket)
                    if !input.isEmpty {
                        socket.handler.received(input.span)
                    }
                    if hasAnnouncedStop {
                        socket.handler.serverStopping()
                    }
                }
                for socket in inbox.attention where !socket.attend() {
                    finish(socket)
                }
                if inbox.isStopping && !hasAnnouncedStop {
                    hasAnnouncedStop = true
                    for socket in sockets.values where socket.isServed {
                        socket.handler.serverStopping()
                    }
                }
                if inbox.mustExit {
                    sockets.values.forEach(finish)
                    return
                }
            }
            let now = ContinuousClock.now
            if now >= nextTick {
                nextTick = now + Self.tickInterval
                for socket in sockets.values {
                    if socket.isPastDeadline(now) {
                        finish(socket)
                    } else if socket.isServed {
                        socket.handler.tick(now: now)
                    }
                }
            }
        }
    }
}
