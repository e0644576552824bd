import Logging
import Synchronization

/// The server's side of every libmicrohttpd callback: reads bodies, calls the handler, parks.
///
/// One per server, shared by all of libmicrohttpd's threads; everything it keeps across
/// requests is immutable or atomic, so the hot path takes no lock.
final class RequestDispatcher: Sendable {
    /// What the access handler tells libmicrohttpd to do next.
    enum Step {
        /// Keep reading: the request is not complete, or it is parked.
        case proceed
        /// Queue this response now.
        case send(HTTPResponse)
        /// Queue this streamed response now.
        case stream(HTTPStream, StreamConnection)
        /// Queue a `101` now; its socket then goes to the upgrade loop.
        case upgrade(HTTPUpgrade)
        /// Close the connection without an answer.
        case abort
    }

    let handler: any HTTPHandler
    let maxBodyBytes: Int
    let logger: Logger
    let parkingLot: ParkingLot
    /// Serves the sockets of upgraded connections.
    let upgradeLoop: UpgradeLoop
    /// Requests between their headers and their completion; shutdown waits for zero.
    let requestsInFlight = Atomic<Int>(0)
    private let isStopping = Atomic<Bool>(false)

    init(handler: any HTTPHandler, maxBodyBytes: Int, upgradeLoop: UpgradeLoop, logger: Logger) {
        self.handler = handler
        self.maxBodyBytes = maxBodyBytes
        self.upgradeLoop = upgradeLoop
        self.logger = logger
        parkingLot = ParkingLot(logger: logger)
    }

    /// One call of the access handler for `connection`; `upload` holds this call's body bytes.
    ///
    /// `slot` is what libmicrohttpd keeps for the request between calls; this updates it.
    func step(
        _ slot: inout RequestSlot, connection: ConnectionHandle, upload: UnsafeRawBufferPointer,
        request: () -> (method: HTTPMethod, path: [UInt8])
    ) -> Step {
        switch slot {
        case .new:
            // libmicrohttpd 0.9.75 closes the connection after a response queued on this first
            // call, so only a request that will not be read further is answered here.
            requestsInFlight.add(1, ordering: .relaxed)
            slot = .headersSeen
            if let declared = connection.header(named: "Content-Length").flatMap(Int.init),
                declared > maxBodyBytes
            {
                return .send(handler.response(for: .contentTooLarge(limit: maxBodyBytes)))
            }
            return .proceed
        case .headersSeen where upload.isEmpty:
            return dispatch(&slot, body: [], connection: connection, request: request())
        case .headersSeen:
            let context = RequestContext()
            slot = .context(context)
            return receive(upload, into: context, connection: connection)
        case .context(let context):
            switch context.phase {
            case .body where !upload.isEmpty:
                return receive(upload, into: context, connection: connection)
            case .body:
                return dispatch(
                    &slot, body: context.body, connection: connection, request: request())
            case .parked(let parked):
                context.phase = .resumed(parked)
                // No answer: the client left, and the connection is closed.
                return parked.takeAnswer().map(Step.send) ?? .abort
            case .answered, .resumed, .streaming, .upgrading, .upgraded:
                // libmicrohttpd calls again only if a queued response was refused.
                return .abort
            }
        }
    }

    /// libmicrohttpd is done with a request, answered or not; `reason` says why if not.
    func requestFinished(_ slot: RequestSlot, reason: String?) {
        requestsInFlight.subtract(1, ordering: .releasing)
        guard case .context(let context) = slot else { return }
        switch context.phase {
        case .resumed(let parked):
            parked.connectionEnded(successfully: reason == nil)
        case .parked(let parked):
            // Resumed, but the connection closed before its answer could even be queued.
            parked.connectionEnded(successfully: false)
        case .streaming(let stream):
            parkingLot.remove(stream)
            stream.source.finish()
        default:
            break
        }
        if let reason {
            logger.debug("Request ended early", metadata: ["reason": "\(reason)"])
        }
    }

    /// The `101` of an upgrade was sent: `socket` goes to the handler the request was answered
    /// with. On libmicrohttpd's thread; `input` holds bytes the client sent after its request.
    func upgraded(
        _ context: RequestContext, socket: Int32, handle: UpgradeResponseHandle, input: [UInt8]
    ) {
        guard case .upgrading(let handler) = context.phase else {
            preconditionFailure("libmicrohttpd upgraded a request that was not answered with an upgrade")
        }
        context.phase = .upgraded
        upgradeLoop.open(descriptor: socket, handle: handle, handler: handler, input: input)
    }

    /// Whether new connections are let in; not once the server stops.
    var isAcceptingConnections: Bool {
        !isStopping.load(ordering: .relaxed)
    }

    /// Refuses new work: new connections are closed, parked requests are answered and new
    /// requests on open connections get a 503.
    func beginStopping() {
        isStopping.store(true, ordering: .sequentiallyConsistent)
        parkingLot.close(answeringWith: shuttingDownResponse())
        upgradeLoop.beginStopping()
    }

    private func receive(
        _ upload: UnsafeRawBufferPointer, into context: RequestContext, connection: ConnectionHandle
    ) -> Step {
        guard context.body.count + upload.count <= maxBodyBytes else {
            // A chunked body crossed the limit. libmicrohttpd 0.9.75 cannot queue a response in
            // the middle of an upload, so the connection is closed: nothing more is read.
            logger.info(
                "Closed a connection whose chunked body passed the limit",
                metadata: ["limit": "\(maxBodyBytes)"])
            return .abort
        }
        if context.body.isEmpty,
            let declared = connection.header(named: "Content-Length").flatMap(Int.init)
        {
            // One allocation for the whole body instead of a doubling series.
            context.body.reserveCapacity(min(declared, maxBodyBytes))
        }
        context.body.append(contentsOf: upload)
        return .proceed
    }

    private func dispatch(
        _ slot: inout RequestSlot, body: [UInt8], connection: ConnectionHandle,
        request parts: (method: HTTPMethod, path: [UInt8])
    ) -> Step {
        guard !isStopping.load(ordering: .relaxed) else {
            return .send(shuttingDownResponse())
        }
        let request = HTTPRequest(
            method: parts.method, path: parts.path, body: body, connection: connection)
        switch handler.answer(request) {
        case .respond(let response):
            if case .context(let context) = slot {
                context.phase = .answered
                context.body = []
            }
            return .send(response)
        case .stream(let stream):
            let connectionStream = StreamConnection(
                source: stream.source, waker: StreamWaker(connection: connection, lot: parkingLot))
            guard parkingLot.register(connectionStream) else {
                return .send(shuttingDownResponse())
            }
            context(in: &slot).phase = .streaming(connectionStream)
            stream.source.start(connectionStream.waker)
            return .stream(stream, connectionStream)
        case .upgrade(let upgrade):
            context(in: &slot).phase = .upgrading(upgrade.handler)
            return .upgrade(upgrade)
        case .park(let parking):
            let context = context(in: &slot)
            let parked = parkingLot.makeParkedRequest(for: connection, parking: parking)
            parkingLot.suspendedCount.add(1, ordering: .relaxed)
            connection.suspend()
            context.phase = .parked(parked)
            parkingLot.park(
                parked, socket: connection.socket, parking: parking,
                closedResponse: shuttingDownResponse())
            return .proceed
        }
    }

    /// The request's context, created when it has none yet.
    private func context(in slot: inout RequestSlot) -> RequestContext {
        if case .context(let existing) = slot {
            existing.body = []
            return existing
        }
        let context = RequestContext()
        slot = .context(context)
        return context
    }

    private func shuttingDownResponse() -> HTTPResponse {
        var response = handler.response(for: .shuttingDown)
        response.headers.append(HTTPHeader("Connection", "close"))
        return response
    }
}
