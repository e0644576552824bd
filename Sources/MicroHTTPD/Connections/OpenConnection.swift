import struct Synchronization.Atomic

/// One client connection, from libmicrohttpd's connection-started notice to its closed one:
/// where it comes from, whether it was let in past a limit, and its request read deadline.
final class OpenConnection: Sendable {
    /// The connection's socket, open until the closed notice.
    let socket: Int32
    /// The client's address.
    let peer: PeerAddress
    /// The certificate its TLS handshake presents, the one current when it opened; `nil` for
    /// plain HTTP. Held for the connection's life, which outlasts the handshake's use of it.
    let certificate: TLSCertificate?
    /// Why the connection came in past a limit, answered to its first request; `nil` when it is
    /// within every limit.
    let refusal: HTTPError?
    /// When the request being read must be complete: milliseconds on the `ConnectionGuard`'s
    /// clock, or one of the states below.
    private let readDeadline: Atomic<Int64>

    /// No request is being read: one is being answered, or waits parked.
    private static let answering: Int64 = 0
    /// The read deadline passed: the connection is being closed with a 408.
    private static let timedOut: Int64 = -1
    /// Upgraded: the socket is the upgrade handler's, and no request is read any more.
    private static let upgraded = Int64.max

    /// A connection whose first request must be read by `deadline`.
    init(
        socket: Int32, peer: PeerAddress, certificate: TLSCertificate?, refusal: HTTPError?, deadline: Int64
    ) {
        self.socket = socket
        self.peer = peer
        self.certificate = certificate
        self.refusal = refusal
        readDeadline = Atomic(deadline)
    }

    /// Whether the read deadline passed and the connection is being closed.
    var isTimedOut: Bool {
        readDeadline.load(ordering: .acquiring) == Self.timedOut
    }

    /// A request is being read from now: it must be whole by `deadline`. Nothing changes once
    /// timed out or upgraded.
    func startReading(until deadline: Int64) {
        var current = readDeadline.load(ordering: .relaxed)
        while current != Self.timedOut && current != Self.upgraded {
            let (exchanged, original) = readDeadline.compareExchange(
                expected: current, desired: deadline, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    /// The request is read and about to be answered; `false` if the deadline won the race,
    /// in which case nothing may be queued on the connection.
    func finishReading() -> Bool {
        var current = readDeadline.load(ordering: .relaxed)
        while current != Self.timedOut {
            guard current != Self.answering && current != Self.upgraded else { return true }
            let (exchanged, original) = readDeadline.compareExchange(
                expected: current, desired: Self.answering, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Whether the connection was upgraded.
    var isUpgraded: Bool {
        readDeadline.load(ordering: .acquiring) == Self.upgraded
    }

    /// The connection is upgraded: no read deadline applies any more.
    func markUpgraded() {
        readDeadline.store(Self.upgraded, ordering: .releasing)
    }

    /// Marks the connection timed out if its deadline is at or before `now`; `true` if it was
    /// (once), and the caller then closes it.
    func timeOut(ifDueAt now: Int64) -> Bool {
        let current = readDeadline.load(ordering: .acquiring)
        guard current != Self.answering && current != Self.timedOut && current != Self.upgraded,
            current <= now
        else { return false }
        return readDeadline.compareExchange(
            expected: current, desired: Self.timedOut, ordering: .acquiringAndReleasing
        ).exchanged
    }
}
