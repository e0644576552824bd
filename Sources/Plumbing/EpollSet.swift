import CLinux
import Glibc

/// An epoll set (Linux's readiness notification) with a descriptor of its own for waking
/// whoever waits in it. Descriptors are watched under 64-bit ids chosen by the caller, never
/// reported by their number, which the system reuses as soon as one is closed.
package final class EpollSet: Sendable {
    /// What a descriptor is watched for.
    package struct Interest: OptionSet, Sendable {
        /// The bits of `struct epoll_event.events`.
        package let rawValue: UInt32

        /// Creates an interest from its bits.
        package init(rawValue: UInt32) {
            self.rawValue = rawValue
        }

        /// Input is waiting (`EPOLLIN`).
        package static let readable = Interest(rawValue: UInt32(CLINUX_READABLE.rawValue))
        /// Output would not block (`EPOLLOUT`).
        package static let writable = Interest(rawValue: UInt32(CLINUX_WRITABLE.rawValue))
        /// The peer hung up or the socket failed (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`).
        package static let hangUp = Interest(rawValue: UInt32(CLINUX_HANG_UP.rawValue))
        /// Reported once, then no more until watched again (`EPOLLONESHOT`).
        package static let oneShot = Interest(rawValue: UInt32(CLINUX_ONE_SHOT.rawValue))
    }

    /// The id `wait` reports after `wake()`; callers number their descriptors below it.
    package static let wakeUpID = UInt64.max
    /// The most events one `wait` reports.
    package static let capacity = 64

    private let descriptor: Int32
    private let wakeUpDescriptor: Int32

    /// A new, empty set.
    package init() throws(SystemCallError) {
        descriptor = clinux_epoll_create()
        guard descriptor >= 0 else { throw SystemCallError("epoll_create1") }
        wakeUpDescriptor = clinux_eventfd_create()
        guard wakeUpDescriptor >= 0 else {
            let error = SystemCallError("eventfd")
            close(descriptor)
            throw error
        }
        guard
            clinux_epoll_watch(descriptor, wakeUpDescriptor, Self.wakeUpID, Interest.readable.rawValue, true)
                == 0
        else {
            let error = SystemCallError("epoll_ctl")
            close(wakeUpDescriptor)
            close(descriptor)
            throw error
        }
    }

    deinit {
        close(wakeUpDescriptor)
        close(descriptor)
    }

    /// Starts watching `fileDescriptor` for `interest`, reporting `id`.
    package func watch(_ fileDescriptor: Int32, id: UInt64, for interest: Interest) throws(SystemCallError) {
        guard clinux_epoll_watch(descriptor, fileDescriptor, id, interest.rawValue, true) == 0 else {
            throw SystemCallError("epoll_ctl")
        }
    }

    /// Changes what a watched `fileDescriptor` is watched for.
    package func changeWatch(_ fileDescriptor: Int32, id: UInt64, to interest: Interest)
        throws(SystemCallError)
    {
        guard clinux_epoll_watch(descriptor, fileDescriptor, id, interest.rawValue, false) == 0 else {
            throw SystemCallError("epoll_ctl")
        }
    }

    /// Stops watching `fileDescriptor`; before it is closed, so that no event outlives it.
    package func unwatch(_ fileDescriptor: Int32) {
        // ENOENT and EBADF only mean there is nothing left to remove.
        _ = clinux_epoll_unwatch(descriptor, fileDescriptor)
    }

    /// Waits up to `timeout` (forever when `nil`) for events; returns the ids of at most
    /// `capacity` of them. `wakeUpID` among them means `wake()` was called. An interrupted wait
    /// returns none.
    package func wait(timeout: Duration?) throws(SystemCallError) -> [UInt64] {
        let milliseconds = timeout.map { Int32(clamping: max(0, $0.roundedUpMilliseconds)) } ?? -1
        var failure: Int32 = 0
        let ids = [UInt64](unsafeUninitializedCapacity: Self.capacity) { buffer, count in
            let found = clinux_epoll_wait_ids(
                descriptor, buffer.baseAddress, Int32(Self.capacity), milliseconds)
            failure = found < 0 ? errno : 0
            count = max(0, Int(found))
        }
        guard failure == 0 || failure == EINTR else { throw SystemCallError("epoll_wait", code: failure) }
        if ids.contains(Self.wakeUpID) {
            var value: UInt64 = 0
            // Resets the counter; EAGAIN only means another wait already did.
            _ = read(wakeUpDescriptor, &value, MemoryLayout<UInt64>.size)
        }
        return ids
    }

    /// Makes the current or next `wait` return `wakeUpID`; from any thread.
    package func wake() {
        var one: UInt64 = 1
        // Fails only when the counter is near overflow: then a wake-up is pending anyway.
        _ = write(wakeUpDescriptor, &one, MemoryLayout<UInt64>.size)
    }
}
