import CMicroHTTPD
import Foundation
import Glibc
import Logging
import Synchronization

/// The one thread that serves every upgraded socket of a server, with its own epoll set:
/// reads what clients send and hands it to their handlers, sends what could not be sent at
/// once, runs the handlers' service requests and ticks, and closes sockets. No thread per
/// socket: ten thousand idle sockets cost ten thousand epoll entries and nothing else.
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
    let logger: Logger
    /// Sockets handed to the loop and not yet finished; shutdown waits for zero.
    let openCount = Atomic<Int>(0)
    private let epoll: Int32
    private let wakeup: Int32
    private let inbox = Mutex(Inbox())
    private let lastID = Atomic<UInt64>(0)
    private let finished = DispatchSemaphore(value: 0)

    /// How often handlers tick, and closing sockets are checked against their deadline.
    private static let tickInterval = Duration.seconds(1)
    /// The id the wake-up descriptor is reported under; sockets count up from 1.
    private static let wakeupID = UInt64.max
    /// Bytes read from a socket at a time.
    private static let readBufferSize = 64 * 1024

    init(maxBufferedBytes: Int, closeTimeout: Duration, logger: Logger) throws(HTTPServerError) {
        self.maxBufferedBytes = maxBufferedBytes
        self.closeTimeout = closeTimeout
        self.logger = logger
        epoll = cmhd_epoll_create()
        guard epoll >= 0 else {
            throw HTTPServerError(
                function: "epoll_create1", code: errno, detail: "Cannot serve upgraded sockets")
        }
        wakeup = cmhd_eventfd_create()
        guard wakeup >= 0 else {
            let code = errno
            Glibc.close(epoll)
            throw HTTPServerError(function: "eventfd", code: code, detail: "Cannot serve upgraded sockets")
        }
        guard cmhd_epoll_watch_readable(epoll, wakeup, Self.wakeupID) == 0 else {
            let code = errno
            Glibc.close(wakeup)
            Glibc.close(epoll)
            throw HTTPServerError(function: "epoll_ctl", code: code, detail: "Cannot serve upgraded sockets")
        }
    }

    deinit {
        Glibc.close(wakeup)
        Glibc.close(epoll)
    }

    /// Starts the thread.
    func start() {
        inbox.withLock { $0.isRunning = true }
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "keygate-upgraded"
        thread.start()
    }

    /// Takes over an upgraded connection, on libmicrohttpd's thread; `input` holds bytes the
    /// client sent after its request, which libmicrohttpd had already read. Once the loop has
    /// stopped, the socket is closed at once.
    func open(
        descriptor: Int32, handle: UpgradeResponseHandle, handler: any UpgradeHandler, input: [UInt8]
    ) {
        let socket = UpgradedSocket(
            id: lastID.add(1, ordering: .relaxed).newValue, descriptor: descriptor, handle: handle,
            handler: handler, loop: self)
        let isTaken = inbox.withLock { inbox in
            guard inbox.isRunning else { return false }
            openCount.add(1, ordering: .relaxed)
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
        signal()
        finished.wait()
    }

    /// Watches `descriptor` for input, and for room to write when `writable`; any thread.
    func watch(_ descriptor: Int32, id: UInt64, writable: Bool, isNew: Bool) -> Bool {
        guard cmhd_epoll_watch_socket(epoll, descriptor, id, writable, isNew) == 0 else {
            logger.error(
                "Cannot watch an upgraded socket",
                metadata: ["error": "\(String(cString: strerror(errno)))"])
            return false
        }
        return true
    }

    /// Stops watching `descriptor`, before it is closed.
    func unwatch(_ descriptor: Int32) {
        // ENOENT only means it was never added.
        _ = cmhd_epoll_unwatch(epoll, descriptor)
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeup, &one, MemoryLayout<UInt64>.size)
    }

    // MARK: The thread

    private func run() {
        var sockets: [UInt64: UpgradedSocket] = [:]
        var ids = [UInt64](repeating: 0, count: 64)
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: Self.readBufferSize, alignment: 1)
        defer { buffer.deallocate() }
        var hasAnnouncedStop = false
        var nextTick = ContinuousClock.now + Self.tickInterval

        func finish(_ socket: UpgradedSocket) {
            guard socket.finish() else { return }
            sockets[socket.id] = nil
            openCount.subtract(1, ordering: .releasing)
            socket.handler.closed()
        }

        while true {
            let count = cmhd_epoll_wait_ids(epoll, &ids, Self.milliseconds(until: nextTick))
            if count < 0 && errno != EINTR {
                logger.critical(
                    "The upgraded sockets' loop failed; they are closed",
                    metadata: ["error": "\(String(cString: strerror(errno)))"])
                sockets.values.forEach(finish)
                return
            }
            var isSignalled = false
            for id in ids[..<max(0, Int(count))] {
                guard id != Self.wakeupID else {
                    isSignalled = true
                    continue
                }
                guard let socket = sockets[id] else { continue }
                if !socket.flush() || socket.readAvailable(into: buffer) == .ended {
                    finish(socket)
                }
            }
            if isSignalled {
                var value: UInt64 = 0
                _ = read(wakeup, &value, MemoryLayout<UInt64>.size)
                let inbox = inbox.withLock { inbox in
                    defer {
                        inbox.opening = []
                        inbox.attention = []
                    }
                    return inbox
                }
                for (socket, input) in inbox.opening {
                    guard socket.watch() else {
                        openCount.subtract(1, ordering: .releasing)
                        _ = socket.finish()
                        continue
                    }
                    sockets[socket.id] = socket
                    socket.handler.opened(socket)
                    if !input.isEmpty {
                        input.withUnsafeBytes(socket.handler.received)
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
                    if socket.isPastCloseDeadline(now) {
                        finish(socket)
                    } else if socket.isServed {
                        socket.handler.tick(now: now)
                    }
                }
            }
        }
    }

    /// The epoll timeout until `instant`, in whole milliseconds rounded up, at least 0.
    private static func milliseconds(until instant: ContinuousClock.Instant) -> Int32 {
        let (seconds, attoseconds) = (instant - .now).components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, milliseconds))
    }
}
