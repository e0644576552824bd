import Logging
import Plumbing

import struct Synchronization.Atomic

/// Every parked request and streamed response of a server, with the parked requests'
/// deadlines and hang-up watch, so that shutdown can finish them all and a client that leaves
/// frees its request at once.
///
/// Parking and finishing take one short lock; the hot path of requests answered at once never
/// touches the lot.
final class ParkingLot: Sendable {
    private struct Parked {
        let request: ParkedRequest
        let socket: Int32
        let onAbandon: (@Sendable () -> Void)?
    }

    private struct State {
        var isClosed = false
        var parked: [UInt64: Parked] = [:]
        var streams: [ObjectIdentifier: StreamConnection] = [:]
    }

    private let state = Mutex(State())
    private let lastID = Atomic<UInt64>(0)
    /// Where parked requests' deadlines are kept; each action only claims and delivers.
    let deadlines: DeadlineQueue
    private let watcher: HangUpWatcher?
    private let logger: Logger
    /// Connections suspended and not yet back on their thread; shutdown waits for zero.
    let suspendedCount = Atomic<Int>(0)
    /// Whether the connections carry TLS, whose clients' leaving shows differently on their
    /// sockets (see `ParkedRequest.isClientConnected`).
    let speaksTLS: Bool

    /// A lot whose requests' deadlines are kept in `deadlines`.
    init(deadlines: DeadlineQueue, speaksTLS: Bool, logger: Logger) {
        self.deadlines = deadlines
        self.speaksTLS = speaksTLS
        self.logger = logger
        do {
            watcher = try HangUpWatcher()
        } catch {
            logger.warning(
                "Parked requests will not notice clients that leave until they are answered",
                metadata: ["error": "\(error)"])
            watcher = nil
        }
        watcher?.start { [weak self] id in
            self?.clientLeft(id)
        }
    }

    /// A parked request for `connection`, which the caller is about to suspend.
    func makeParkedRequest(for connection: ConnectionHandle, parking: ParkingPlan) -> ParkedRequest {
        ParkedRequest(
            id: lastID.add(1, ordering: .relaxed).newValue, connection: connection, lot: self,
            parking: parking)
    }

    /// Parks a request whose connection the caller has just suspended.
    ///
    /// When the lot is already closed the request is answered with `closedResponse` at once.
    func park(
        _ request: ParkedRequest, socket: Int32, parking: ParkingPlan,
        closedResponse: @autoclosure () -> HTTPResponse
    ) {
        let isOpen = state.withLock { state in
            guard !state.isClosed else { return false }
            state.parked[request.id] = Parked(request: request, socket: socket, onAbandon: parking.onAbandon)
            return true
        }
        guard isOpen else {
            request.respond(closedResponse())
            return
        }
        if let watcher, socket >= 0 {
            do {
                try watcher.watch(socket: socket, id: request.id)
            } catch {
                logger.warning("Cannot watch a parked connection", metadata: ["error": "\(error)"])
            }
        }
        let onTimeout = parking.onTimeout
        let deadline = deadlines.schedule(after: parking.timeout) { [weak request] in
            guard let request, request.claim() else { return }
            request.deliver(onTimeout())
        }
        request.arm(deadline)
        parking.onPark(request)
    }

    /// Forgets a request that is being finished; its socket is no longer watched.
    func remove(_ request: ParkedRequest) {
        let removed = state.withLock { $0.parked.removeValue(forKey: request.id) }
        if let removed, removed.socket >= 0 {
            watcher?.unwatch(socket: removed.socket)
        }
    }

    /// Registers a stream until it finishes; `false` when the lot is closed.
    func register(_ stream: StreamConnection) -> Bool {
        state.withLock { state in
            guard !state.isClosed else { return false }
            state.streams[ObjectIdentifier(stream)] = stream
            return true
        }
    }

    /// Forgets a finished stream.
    func remove(_ stream: StreamConnection) {
        _ = state.withLock { $0.streams.removeValue(forKey: ObjectIdentifier(stream)) }
    }

    /// Refuses new requests and streams, answers every waiting request with `response`, ends
    /// every stream, and stops watching.
    func close(answeringWith response: HTTPResponse) {
        let (waiting, streams) = state.withLock { state in
            state.isClosed = true
            return (Array(state.parked.values), Array(state.streams.values))
        }
        // Whoever parked a request answered here is told, as when its client leaves, so that
        // nothing keeps waiting for it (found by AddressSanitizer: a queue's waiter outlived
        // its 503 and kept the whole server alive).
        for parked in waiting where parked.request.respond(response) {
            parked.onAbandon?()
        }
        for stream in streams {
            stream.waker.close()
        }
        watcher?.stop()
    }

    /// The client of a parked request closed its connection: the request is abandoned, and
    /// whoever parked it is told, unless someone already claimed it.
    private func clientLeft(_ id: UInt64) {
        guard let parked = state.withLock({ $0.parked[id] }), parked.request.claim() else { return }
        parked.onAbandon?()
        parked.request.abandon()
    }
}
