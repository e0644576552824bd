import Glibc
import Plumbing
import Testing

@Suite("Epoll set")
struct EpollSetTests {
    /// A connected pair of Unix stream sockets.
    private func socketPair() throws -> (Int32, Int32) {
        var descriptors: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0 else {
            throw SystemCallError("socketpair")
        }
        return (descriptors[0], descriptors[1])
    }

    @Test func reportsInputUnderItsID() throws {
        let epoll = try EpollSet()
        let (near, far) = try socketPair()
        defer {
            close(near)
            close(far)
        }
        try epoll.watch(near, id: 7, for: .readable)
        #expect(try epoll.wait(timeout: .zero).isEmpty)
        var byte: UInt8 = 1
        #expect(write(far, &byte, 1) == 1)
        #expect(try epoll.wait(timeout: .seconds(10)) == [7])
        epoll.unwatch(near)
        #expect(try epoll.wait(timeout: .zero).isEmpty)
    }

    @Test func reportsAHangUpOnceWhenOneShot() throws {
        let epoll = try EpollSet()
        let (near, far) = try socketPair()
        defer { close(near) }
        try epoll.watch(near, id: 9, for: [.hangUp, .oneShot])
        close(far)
        #expect(try epoll.wait(timeout: .seconds(10)) == [9])
        #expect(try epoll.wait(timeout: .zero).isEmpty)
    }

    @Test func wakeUpIsReportedAndThenCleared() throws {
        let epoll = try EpollSet()
        epoll.wake()
        epoll.wake()
        #expect(try epoll.wait(timeout: .seconds(10)) == [EpollSet.wakeUpID])
        #expect(try epoll.wait(timeout: .zero).isEmpty)
    }

    @Test func watchingABadDescriptorFails() throws {
        let epoll = try EpollSet()
        #expect(throws: SystemCallError.self) { try epoll.watch(-1, id: 1, for: .readable) }
    }
}
