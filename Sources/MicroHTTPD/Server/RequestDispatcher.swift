import Logging
import Plumbing

import struct Synchronization.Atomic

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
        /// Queue a `101` now; its socket then goes to an upgrade loop.
        case upgrade(HTTPUpgrade)
        /// Close the connection without an answer.
        case abort
    }

    let handler: any HTTPHandler
    let maxBodyBytes: Int
    let logger: Logger
    let parkingLot: ParkingLot
    /// Serve the sockets of upgraded connections.
    let upgradeLoops: UpgradeLoops
    /// Counts connections against their limits and closes those whose request is late.
    let connections: ConnectionGuard
    /// The certificate TLS handshakes present; `nil` for plain HTTP.
    let credentials: TLSCredentials?
    /// Requests between their headers and their completion; shutdown waits for zero.
    let requestsInFlight = Atomic<Int>(0)
    private let headRules: RequestHeadRules
    /// Whether streamed responses are written by the upgrade loops after their first pause.
    private let streamsOnLoops: Bool
    private let isStopping = Atomic<Bool>(false)

    init(
        handler: any HTTPHandler, configuration: HTTPServer.Configuration, credentials: TLSCredentials?,
        upgradeLoops: UpgradeLoops, deadlines: DeadlineQueue, logger: Logger
    ) {
        self.handler = handler
        self.credentials = credentials
        maxBodyBytes = configuration.maxBodyBytes
        headRules = RequestHeadRules(limits: configuration)
        streamsOnLoops = configuration.writesStreamsOnLoops
        self.upgradeLoops = upgradeLoops
        self.logger = logger
        parkingLot = ParkingLot(deadlines: deadlines, speaksTLS: credentials != nil, logger: logger)
        connections = ConnectionGuard(
            limits: configuration,
            timeoutResponse: handler.response(for: .requestTimeout(configuration.readTimeout)))
    }

    /// One call of the access handler for `connection`; `upload` holds this call's body bytes.
    ///
    /// `slot` is what libmicrohttpd keeps for the request between calls; this updates it.
    /// `open` is the connection as the guard counts it (`nil` only if libmicrohttpd lost it).
    func step(
        _ slot: inout RequestSlot, connection: ConnectionHandle, open: OpenConnection?,
        upload: UnsafeRawBufferPointer, request: () -> (method: HTTPMethod, path: [UInt8])
    ) -> Step {
        switch slot {
        case .new:
            // libmicrohttpd 0.9.75 closes the connection after a response queued on this first
            // call, so only a request that will not be read further is answered here.
            requestsInFlight.add(1, ordering: .relaxed)
            slot = .headersSeen
            guard let refusal = refusal(of: connection, open: open, request: request) else {
                return .proceed
            }
            guard open?.finishReading() ?? true else { return .abort }
            var response = handler.response(for: refusal)
            response.headers.append(HTTPHeader("Connection", "close"))
            return .send(response)
        case .headersSeen where upload.isEmpty:
            return dispatch(&slot, body: [], connection: connection, open: open, request: request())
        case .headersSeen:
            let context = RequestContext()
            slot = .context(context)
            return receive(upload, into: context, connection: connection, open: open)
        case .context(let context):
            switch context.phase {
            case .body where !upload.isEmpty:
                return receive(upload, into: context, connection: connection, open: open)
            case .body:
                return dispatch(
                    &slot, body: context.body, connection: connection, open: open, request: request())
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

    /// Why a request whose headers just arrived is answered at once without being read
    /// further, if it is: its connection came in past a limit, or its head breaks a rule.
    private func refusal(
        of connection: ConnectionHandle, open: OpenConnection?,
        request: () -> (method: HTTPMethod, path: [UInt8])
    ) -> HTTPError? {
        open?.refusal ?? headRules.refusal(of: connection) { request().path }
    }

    /// libmicrohttpd is done with a request, answered or not; `reason` says why if not.
    func requestFinished(_ slot: RequestSlot, on open: OpenConnection?, reason: String?) {
        requestsInFlight.subtract(1, ordering: .releasing)
        if let open {
            connections.requestFinished(on: open)
        }
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
    /// with, on one of the upgrade loops. On libmicrohttpd's thread; `input` holds bytes the client sent after its request.
    func upgraded(
        _ context: RequestContext, on open: OpenConnection?, socket: Int32, handle: UpgradeResponseHandle,
        input: [UInt8]
    ) {
        guard case .upgrading(let handler) = context.phase else {
            preconditionFailure("libmicrohttpd upgraded a request that was not answered with an upgrade")
        }
        context.phase = .upgraded
        if let open {
            connections.upgraded(open)
        }
        // Over TLS, `socket` is libmicrohttpd's end of a socket pair it forwards through; the
        // client's own socket is watched for hang-up, which libmicrohttpd does not pass on.
        upgradeLoops.open(
            descriptor: socket, transport: credentials == nil ? nil : open?.socket, handle: handle,
            handler: handler, input: input)
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
        upgradeLoops.beginStopping()
    }

    private func receive(
        _ upload: UnsafeRawBufferPointer, into context: RequestContext, connection: ConnectionHandle,
        open: OpenConnection?
    ) -> Step {
        // Past its read deadline, the connection is being closed: nothing more is read.
        guard open?.isTimedOut != true else { return .abort }
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
        _ slot: inout RequestSlot, body: [UInt8], connection: ConnectionHandle, open: OpenConnection?,
        request parts: (method: HTTPMethod, path: [UInt8])
    ) -> Step {
        // The request is whole: from now on it is answered, unless its deadline passed first
        // and the connection is being closed with a 408.
        guard open?.finishReading() ?? true else { return .abort }
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
            // A TLS connection's socket carries records: libmicrohttpd writes all of its body.
            let connectionStream = StreamConnection(
                source: stream.source, waker: StreamWaker(connection: connection, lot: parkingLot),
                loops: streamsOnLoops && !connection.isEncrypted ? upgradeLoops : nil,
                descriptor: connection.socket)
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
