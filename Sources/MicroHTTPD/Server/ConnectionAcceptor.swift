import CMicroHTTPD
import Glibc
import Logging
import Plumbing

import struct Synchronization.Atomic

/// Accepts connections on a listening socket of the server's own, on a thread of its own, and
/// hands each to libmicrohttpd, which gives them to its workers in turn (by the socket's
/// number): a client that opens a pool of connections at once has them spread over the
/// threads.
///
/// libmicrohttpd's workers, left to race for a listening socket of libmicrohttpd's, let the
/// first one awake take a whole burst: 16 connections opened together landed all on one of two
/// threads in 1 run of 3, which then served them with one core while the other stayed idle.
final class ConnectionAcceptor: Sendable {
    /// The TCP port listened on (the one the kernel chose, for port 0).
    let port: Int
    private let listener: Int32
    private let thread: WorkerThread
    private let logger: Logger
    /// Whether accepting last failed for want of descriptors or memory.
    private let isStarved = Atomic<Bool>(false)

    /// Binds `address` and listens, with room for `backlog` connections not yet accepted. As
    /// libmicrohttpd's own socket did: `SO_REUSEADDR`, and an IPv6 address serves IPv6 only.
    init(address: SocketAddress, backlog: Int, logger: Logger) throws(HTTPServerError) {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let listener = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else {
            throw HTTPServerError(function: "socket", code: errno, detail: "Cannot open a listening socket")
        }
        var one: Int32 = 1
        // Neither fails on a fresh TCP socket; a failure would show in bind.
        _ = setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if address.isIPv6 {
            _ = setsockopt(
                listener, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let isBound = address.withSocketAddress { bind(listener, $0, address.length) == 0 }
        guard isBound, listen(listener, Int32(clamping: backlog)) == 0 else {
            let code = errno
            close(listener)
            throw HTTPServerError(function: isBound ? "listen" : "bind", code: code, detail: "Cannot listen")
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let isNamed = withUnsafeMutablePointer(to: &bound) { storage in
            storage.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(listener, $0, &length) == 0
            }
        }
        guard isNamed, let port = SocketAddress.port(of: bound) else {
            close(listener)
            throw HTTPServerError(function: "getsockname", code: errno, detail: "Cannot read the bound port")
        }
        self.port = port
        self.listener = listener
        self.logger = logger
        // Shutting the socket down wakes the blocked accept (with EINVAL), for stop().
        thread = WorkerThread(name: "keygate-accept") { _ = shutdown(listener, Int32(SHUT_RDWR)) }
    }

    deinit {
        thread.stop()
        close(listener)
    }

    /// Starts handing the connections accepted to `daemon`, until `stop()`.
    func start(handingTo daemon: OpaquePointer) {
        let daemon = DaemonHandle(pointer: daemon)
        thread.start { [self] in
            acceptOne(handingTo: daemon)
        }
    }

    /// Stops accepting: connections made from now on are refused. Waits for the thread.
    func stop() {
        thread.stop()
    }

    /// Accepts one connection and hands it over; how long to pause before the next.
    private func acceptOne(handingTo daemon: DaemonHandle) -> WorkerThread.Pause {
        var peer = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let connection = withUnsafeMutablePointer(to: &peer) { storage in
            storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) }
        }
        guard connection >= 0 else {
            switch errno {
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // Out of descriptors or memory: connections closing will make room. Said once.
                if !isStarved.exchange(true, ordering: .relaxed) {
                    logger.warning(
                        "Cannot accept connections for want of descriptors or memory; trying again",
                        metadata: ["errno": "\(errno)"])
                }
                return .untilWokenOrAfter(.milliseconds(10))
            case EINVAL, EBADF:
                // The socket was shut down for stop(), which ends the thread after this round.
                return .untilWokenOrAfter(.milliseconds(10))
            default:
                // A connection that failed before it was taken (EINTR, ECONNABORTED, network
                // errors): the next one.
                return .none
            }
        }
        if isStarved.exchange(false, ordering: .relaxed) {
            logger.notice("Accepting connections again")
        }
        // Not inherited by a child process (Glibc's module has no accept4). libmicrohttpd
        // makes the socket non-blocking itself.
        _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
        let isAdded = withUnsafePointer(to: &peer) { storage in
            storage.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                MHD_add_connection(daemon.pointer, connection, $0, length)
            }
        }
        if isAdded != .YES {
            // libmicrohttpd closed the socket: at its connection limit, or out of memory.
            logger.debug("libmicrohttpd refused a connection", metadata: ["errno": "\(errno)"])
        }
        return .none
    }
}

/// A running daemon, used from the acceptor's thread: libmicrohttpd takes connections added
/// from any thread of a daemon with internal threads.
private struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}
