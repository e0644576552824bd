import Glibc
import Plumbing

import struct Synchronization.Atomic

/// Keeps count of the open connections, in all and per client address; lets new ones in or
/// refuses them; and closes, with a 408, those whose request is not read in time (over TLS,
/// without the 408: see `closeLateConnections`).
///
/// libmicrohttpd's own per-address limit closes a connection without a word, and its timeout
/// only measures silence, which a client sending a byte now and then never lets pass. So each
/// connection's request has a deadline, and one thread closes those whose deadline passed.
final class ConnectionGuard: Sendable {
    private struct State {
        /// Every open connection, by identity.
        var open: [ObjectIdentifier: OpenConnection] = [:]
        /// How many connections each address has open; an address with none is absent.
        var perAddress: [PeerAddress: Int] = [:]
    }

    /// How often deadlines are checked; a request is closed at most this late.
    private static let tick = Duration.milliseconds(100)

    /// The limits it enforces: the server's configuration.
    let limits: HTTPServer.Configuration
    private let state = Mutex(State())
    /// Milliseconds since `start`, advanced by the deadline thread at each tick: deadlines are
    /// set on every request, and reading this costs less than reading a clock.
    private let now = Atomic<Int64>(0)
    /// The bytes of the 408 written to a connection whose request is late.
    private let timeoutAnswer: [UInt8]
    private let thread = WorkerThread(name: "keygate-deadlines")
    /// Upgraded connections libmicrohttpd has not closed yet. Over TLS it goes on forwarding
    /// what their sockets sent after they are given back, so stopping waits for none.
    let upgradedCount = Atomic<Int>(0)

    /// A guard enforcing `limits`, answering late requests with `timeoutResponse`.
    init(limits: HTTPServer.Configuration, timeoutResponse: HTTPResponse) {
        self.limits = limits
        timeoutAnswer = Self.serialized(timeoutResponse)
    }

    /// Starts the thread that closes connections past their read deadline.
    func start() {
        let started = ContinuousClock.now
        thread.start { [self] in
            now.store((ContinuousClock.now - started).wholeMilliseconds, ordering: .relaxed)
            closeLateConnections()
            return .untilWokenOrAfter(Self.tick)
        }
    }

    /// Stops the thread and waits for it to end; idempotent.
    func stop() {
        thread.stop()
    }

    /// Whether a new connection from `peer` may be accepted at all: `false` once the address
    /// has more open than even its overflow allows.
    func admits(_ peer: PeerAddress) -> Bool {
        state.withLock { $0.perAddress[peer, default: 0] < limits.acceptedConnectionsPerAddress }
    }

    /// Counts a new connection in, deciding whether it is served or refused with a 503; its
    /// first request must arrive within the read timeout (its TLS handshake included), and its
    /// handshake presents `certificate`.
    func opened(socket: Int32, peer: PeerAddress, certificate: TLSCertificate?) -> OpenConnection {
        let deadline = deadline(after: limits.readTimeout)
        return state.withLock { state in
            let fromPeer = state.perAddress[peer, default: 0] + 1
            state.perAddress[peer] = fromPeer
            let refusal: HTTPError? =
                if state.open.count + 1 > limits.maxConnections {
                    .tooManyConnections
                } else if fromPeer > limits.maxConnectionsPerAddress {
                    .tooManyConnectionsFromAddress(limit: limits.maxConnectionsPerAddress)
                } else {
                    nil
                }
            let connection = OpenConnection(
                socket: socket, peer: peer, certificate: certificate, refusal: refusal, deadline: deadline)
            state.open[ObjectIdentifier(connection)] = connection
            return connection
        }
    }

    /// Counts a closed connection out; before libmicrohttpd closes its socket, so the deadline
    /// thread, which holds the same lock while it closes one, never touches a reused number.
    func closed(_ connection: OpenConnection) {
        state.withLock { state in
            state.open[ObjectIdentifier(connection)] = nil
            if connection.isUpgraded {
                upgradedCount.subtract(1, ordering: .releasing)
            }
            let left = state.perAddress[connection.peer, default: 1] - 1
            state.perAddress[connection.peer] = left > 0 ? left : nil
        }
    }

    /// The connection was upgraded: no request is read on it any more.
    func upgraded(_ connection: OpenConnection) {
        connection.markUpgraded()
        upgradedCount.add(1, ordering: .relaxed)
    }

    /// A request line was read: the rest of its request must follow within the read timeout.
    func requestStarted(on connection: OpenConnection) {
        connection.startReading(until: deadline(after: limits.readTimeout))
    }

    /// A request was answered: the next must come within the idle timeout (libmicrohttpd
    /// closes a silent connection then) and be whole a read timeout later.
    func requestFinished(on connection: OpenConnection) {
        connection.startReading(until: deadline(after: limits.idleTimeout + limits.readTimeout))
    }

    private func deadline(after timeout: Duration) -> Int64 {
        now.load(ordering: .relaxed) + timeout.wholeMilliseconds
    }

    /// Writes the 408 to each connection past its deadline and shuts its socket down, which
    /// libmicrohttpd then sees and closes the connection. O(open connections), under the lock.
    ///
    /// Over TLS the 408 is not written: the socket carries TLS records that only
    /// libmicrohttpd's thread may write, and bytes written beside them would break the stream
    /// (or be read as a plaintext answer by no one). The connection is only shut down, which
    /// the client sees as the connection closing; libmicrohttpd 0.9.75 cannot be asked to
    /// answer from another thread a connection that is not suspended.
    private func closeLateConnections() {
        let current = now.load(ordering: .relaxed)
        let isAnswered = limits.tls == nil
        state.withLock { state in
            for connection in state.open.values where connection.timeOut(ifDueAt: current) {
                // Best effort: a client that reads nothing misses the answer, not the close.
                if isAnswered {
                    _ = timeoutAnswer.withUnsafeBytes { bytes in
                        send(
                            connection.socket, bytes.baseAddress, bytes.count,
                            Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                    }
                }
                // It fails only for a socket the client already shut down, which libmicrohttpd
                // is closing anyway.
                _ = shutdown(connection.socket, Int32(SHUT_RDWR))
            }
        }
    }

    /// `response` as it goes on the wire, closing the connection.
    private static func serialized(_ response: HTTPResponse) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status.code) \(response.status.reasonPhrase)\r\n"
        for header in response.headers {
            head += "\(header.name): \(header.value)\r\n"
        }
        head += "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + response.body
    }
}
