import Dispatch
import Glibc
import KeygateTestSupport
import MicroHTTPD
import Synchronization

/// An upgrade handler for server tests: echoes what it receives, floods on `flood`, closes on
/// `close`, and says `bye` when the server stops.
final class EchoUpgrade: UpgradeHandler {
    private let socket = TestLock<UpgradedSocket?>(nil)
    /// Every byte received, in order.
    let received = TestLock<[UInt8]>([])
    /// Signalled once, when the socket is closed.
    let closedSignal = DispatchSemaphore(value: 0)
    /// Signalled once the flood stopped because the socket refused a send.
    let refusedSignal = DispatchSemaphore(value: 0)
    /// Bytes waiting in the socket's buffer when it refused a send.
    let bufferedWhenRefused = Atomic<Int>(0)

    func opened(_ socket: UpgradedSocket) {
        self.socket.withLock { $0 = socket }
    }

    func received(_ bytes: Span<UInt8>) {
        let copy = bytes.withUnsafeBufferPointer { Array($0) }
        received.withLock { $0 += copy }
        guard let socket = socket.withLock({ $0 }) else { return }
        switch String(decoding: copy, as: UTF8.self) {
        case "flood":
            let chunk = [UInt8](repeating: 0x2A, count: 16 * 1024)
            while socket.send(chunk) {}
            bufferedWhenRefused.store(socket.bufferedByteCount, ordering: .relaxed)
            refusedSignal.signal()
        case "close":
            socket.close(sending: Array("closing".utf8))
        default:
            _ = socket.send(copy)
        }
    }

    func serve() {}

    func tick(now: ContinuousClock.Instant) {}

    func serverStopping() {
        socket.withLock { $0 }?.close(sending: Array("bye".utf8))
    }

    func closed() {
        socket.withLock { $0 = nil }
        closedSignal.signal()
    }
}

/// An upgrade handler that tells its client which thread serves the socket: the number of the
/// thread (`pthread_self`) in 8 bytes, as soon as the socket is open.
final class ThreadReportingUpgrade: UpgradeHandler {
    func opened(_ socket: UpgradedSocket) {
        let thread = UInt64(pthread_self())
        _ = socket.send((0..<8).map { UInt8(truncatingIfNeeded: thread >> (8 * $0)) })
    }

    func received(_ bytes: Span<UInt8>) {}

    func serve() {}

    func tick(now: ContinuousClock.Instant) {}

    func serverStopping() {}

    func closed() {}
}
