import CMicroHTTPD
import Foundation
import Glibc
import Synchronization

/// Watches the sockets of parked requests for their clients leaving, on one thread with its
/// own epoll set, so that a parked request is freed when its client goes instead of when its
/// deadline comes. libmicrohttpd does not watch suspended connections itself.
///
/// A socket is watched for hang-up only (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`), once
/// (`EPOLLONESHOT`), under the parked request's unique id, never its file descriptor number.
final class HangUpWatcher: Sendable {
    private let epoll: Int32
    private let wakeup: Int32
    private let finished = DispatchSemaphore(value: 0)
    private let isRunning = Atomic<Bool>(false)

    /// Creates the epoll set and the descriptor that stops its thread.
    init() throws(HTTPServerError) {
        epoll = cmhd_epoll_create()
        guard epoll >= 0 else {
            throw HTTPServerError(
                function: "epoll_create1", code: errno, detail: "Cannot watch parked connections")
        }
        wakeup = cmhd_eventfd_create()
        guard wakeup >= 0 else {
            let code = errno
            close(epoll)
            throw HTTPServerError(function: "eventfd", code: code, detail: "Cannot watch parked connections")
        }
        guard cmhd_epoll_watch_readable(epoll, wakeup, Self.stopID) == 0 else {
            let code = errno
            close(wakeup)
            close(epoll)
            throw HTTPServerError(
                function: "epoll_ctl", code: code, detail: "Cannot watch parked connections")
        }
    }

    deinit {
        close(wakeup)
        close(epoll)
    }

    /// Starts the thread, which calls `clientLeft` with the id of each socket whose client left.
    func start(clientLeft: @escaping @Sendable (UInt64) -> Void) {
        isRunning.store(true, ordering: .releasing)
        let thread = Thread { [self] in
            run(clientLeft: clientLeft)
            finished.signal()
        }
        thread.name = "keygate-hangups"
        thread.start()
    }

    /// Stops the thread and waits for it to end; idempotent.
    func stop() {
        guard isRunning.exchange(false, ordering: .acquiringAndReleasing) else { return }
        var one: UInt64 = 1
        _ = write(wakeup, &one, MemoryLayout<UInt64>.size)
        finished.wait()
    }

    /// Watches `socket` until it is unwatched or reports a hang-up once.
    func watch(socket: Int32, id: UInt64) throws(HTTPServerError) {
        guard cmhd_epoll_watch_hangup(epoll, socket, id) == 0 else {
            throw HTTPServerError(
                function: "epoll_ctl", code: errno, detail: "Cannot watch a parked connection")
        }
    }

    /// Stops watching `socket`; before its connection is resumed, so no event outlives it.
    func unwatch(socket: Int32) {
        // ENOENT and EBADF only mean there is nothing left to remove.
        _ = cmhd_epoll_unwatch(epoll, socket)
    }

    /// The id the stop signal is reported under; parked requests count up from 1.
    private static let stopID = UInt64.max

    private func run(clientLeft: @Sendable (UInt64) -> Void) {
        var ids = [UInt64](repeating: 0, count: 64)
        while true {
            let count = cmhd_epoll_wait_ids(epoll, &ids, -1)
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            for id in ids[..<Int(count)] {
                if id == Self.stopID {
                    return
                }
                clientLeft(id)
            }
        }
    }
}
