import Plumbing

/// Watches the sockets of parked requests for their clients leaving, on one thread with its
/// own epoll set, so that a parked request is freed when its client goes instead of when its
/// deadline comes. libmicrohttpd does not watch suspended connections itself.
///
/// A socket is watched for hang-up only, once, under the parked request's unique id, never its
/// file descriptor number.
final class HangUpWatcher: Sendable {
    private let epoll: EpollSet
    private let thread: WorkerThread

    /// Creates the epoll set.
    init() throws(HTTPServerError) {
        do {
            epoll = try EpollSet()
        } catch {
            throw HTTPServerError(error, detail: "Cannot watch parked connections")
        }
        thread = WorkerThread(name: "keygate-hangups", interrupt: { [epoll] in epoll.wake() })
    }

    /// Starts the thread, which calls `clientLeft` with the id of each socket whose client left.
    func start(clientLeft: @escaping @Sendable (UInt64) -> Void) {
        thread.start { [epoll] in
            do {
                for id in try epoll.wait(timeout: nil) where id != EpollSet.wakeUpID {
                    clientLeft(id)
                }
                return .none
            } catch {
                // The set is broken: parked requests are left to their deadlines.
                return .untilWoken
            }
        }
    }

    /// Stops the thread and waits for it to end; idempotent.
    func stop() {
        thread.stop()
    }

    /// Watches `socket` until it is unwatched or reports a hang-up once.
    func watch(socket: Int32, id: UInt64) throws(HTTPServerError) {
        do {
            try epoll.watch(socket, id: id, for: [.hangUp, .oneShot])
        } catch {
            throw HTTPServerError(error, detail: "Cannot watch a parked connection")
        }
    }

    /// Stops watching `socket`; before its connection is resumed, so no event outlives it.
    func unwatch(socket: Int32) {
        epoll.unwatch(socket)
    }
}
