// The one room where libmicrohttpd calls into Swift: every `@convention(c)` function and every
// `Unmanaged` of the module lives in this file.
//
// Ownership: the daemon's context pointer is the server's `RequestDispatcher`, passed unretained
// because `HTTPServer` holds it strongly and stops the daemon before releasing it. A
// connection's socket context holds its `OpenConnection`, passed retained in the
// connection-started notice and released exactly once, in the connection-closed one. A request's
// slot (`void **con_cls`) holds nothing, a marker, or a `RequestContext` passed retained when
// the request first needs one and released exactly once, in the request-completed callback;
// libmicrohttpd hands the same pointer to the upgrade callback, before that completion.

import CMicroHTTPD
import Glibc
import Logging

/// Starts a daemon whose callbacks all lead to `dispatcher`; one speaking TLS when the
/// dispatcher has credentials.
func startDaemon(settings: cmhd_daemon_settings, dispatcher: RequestDispatcher) -> OpaquePointer? {
    var settings = settings
    var callbacks = cmhd_daemon_callbacks(
        accept: acceptPolicy,
        access: accessHandler,
        completed: requestCompleted,
        unescape: leaveEscaped,
        log: logMessage,
        connection: connectionChanged,
        request_line: requestLineRead,
        // Unretained: HTTPServer owns the dispatcher and stops the daemon before releasing it.
        context: Unmanaged.passUnretained(dispatcher).toOpaque())
    guard dispatcher.credentials != nil else {
        return cmhd_start_daemon(&settings, &callbacks)
    }
    // libmicrohttpd parses the priorities while it starts: the text need not outlive the call.
    return TLSConfiguration.priorities.withCString { priorities in
        var tls = cmhd_tls_settings(priorities: priorities, certificate: presentCertificate)
        return withUnsafePointer(to: &tls) { tls in
            settings.tls = tls
            return cmhd_start_daemon(&settings, &callbacks)
        }
    }
}

/// The slot value of a request whose headers were seen and that holds no context. Never
/// dereferenced: it only has to differ from `nil` and from every object address.
private var headersSeenMarker: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: 1) }

private func dispatcher(from context: UnsafeMutableRawPointer?) -> RequestDispatcher {
    guard let context else { preconditionFailure("libmicrohttpd called back without a context") }
    return Unmanaged<RequestDispatcher>.fromOpaque(context).takeUnretainedValue()
}

private func slot(from stored: UnsafeMutableRawPointer?) -> RequestSlot {
    switch stored {
    case nil: .new
    case headersSeenMarker: .headersSeen
    case let pointer?: .context(Unmanaged<RequestContext>.fromOpaque(pointer).takeUnretainedValue())
    }
}

/// The connection as the guard counts it, from the connection's socket context.
private func openConnection(of connection: OpaquePointer?) -> OpenConnection? {
    guard let connection, let stored = cmhd_connection_socket_context(connection) else { return nil }
    return Unmanaged<OpenConnection>.fromOpaque(stored).takeUnretainedValue()
}

/// `MHD_AcceptPolicyCallback`: a new connection is closed at once while the server stops, or
/// when its address has more open than even the overflow past its limit allows.
private func acceptPolicy(
    _ context: UnsafeMutableRawPointer?, _ address: UnsafePointer<sockaddr>?, _: socklen_t
) -> MHD_Result {
    let dispatcher = dispatcher(from: context)
    guard dispatcher.isAcceptingConnections else { return .NO }
    guard let address else { return .YES }
    return dispatcher.connections.admits(PeerAddress(address)) ? .YES : .NO
}

/// `gnutls_certificate_retrieve_function2`: the chain and key a TLS handshake presents, those of
/// the certificate its connection was opened with. GnuTLS does not free them; the connection's
/// `OpenConnection` keeps them alive until it closes, which is after its session's last use of
/// them. Returns -1, failing the handshake, for a connection the server does not count.
private func presentCertificate(
    _ session: gnutls_session_t?, _: UnsafePointer<gnutls_datum_t>?, _: Int32,
    _: UnsafePointer<gnutls_pk_algorithm_t>?, _: Int32,
    _ chain: UnsafeMutablePointer<UnsafeMutablePointer<gnutls_pcert_st>?>?,
    _ chainLength: UnsafeMutablePointer<UInt32>?, _ key: UnsafeMutablePointer<gnutls_privkey_t?>?
) -> Int32 {
    guard let session, let chain, let chainLength, let key,
        let open = openConnection(of: cmhd_tls_session_connection(session)),
        let certificate = open.certificate
    else { return -1 }
    chain.pointee = certificate.chain
    chainLength.pointee = UInt32(certificate.chainLength)
    key.pointee = certificate.key
    return 0
}

/// `MHD_NotifyConnectionCallback`: a connection opened or closed; the guard counts it.
private func connectionChanged(
    _ context: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ socketContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ change: MHD_ConnectionNotificationCode
) {
    guard let connection, let socketContext else { return }
    let dispatcher = dispatcher(from: context)
    let connections = dispatcher.connections
    switch change {
    case .CONNECTION_NOTIFY_STARTED:
        guard let address = cmhd_connection_client_address(connection) else { return }
        // Before the TLS handshake, which presents this certificate.
        let open = connections.opened(
            socket: cmhd_connection_socket(connection), peer: PeerAddress(address),
            certificate: dispatcher.credentials?.certificate)
        // Retained: libmicrohttpd keeps it until the closed notice.
        socketContext.pointee = Unmanaged.passRetained(open).toOpaque()
    case .CONNECTION_NOTIFY_CLOSED:
        guard let stored = socketContext.pointee else { return }
        socketContext.pointee = nil
        connections.closed(Unmanaged<OpenConnection>.fromOpaque(stored).takeRetainedValue())
    default:
        break
    }
}

/// `MHD_OPTION_URI_LOG_CALLBACK`: a request line was read; its request's read deadline starts.
/// Returns the request's first slot value: none.
private func requestLineRead(
    _ context: UnsafeMutableRawPointer?, _: UnsafePointer<CChar>?, _ connection: OpaquePointer?
) -> UnsafeMutableRawPointer? {
    if let open = openConnection(of: connection) {
        dispatcher(from: context).connections.requestStarted(on: open)
    }
    return nil
}

/// `MHD_AccessHandlerCallback`: called for the headers, for each piece of body, and after
/// every resume.
private func accessHandler(
    _ context: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ url: UnsafePointer<CChar>?, _ method: UnsafePointer<CChar>?, _: UnsafePointer<CChar>?,
    _ uploadData: UnsafePointer<CChar>?, _ uploadDataSize: UnsafeMutablePointer<Int>?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let connection, let uploadDataSize, let requestContext else { return .NO }
    let handle = ConnectionHandle(pointer: connection)
    let upload = UnsafeRawBufferPointer(
        start: uploadData, count: uploadData == nil ? 0 : uploadDataSize.pointee)
    let stored = requestContext.pointee
    var current = slot(from: stored)
    let step = dispatcher(from: context).step(
        &current, connection: handle, open: openConnection(of: connection), upload: upload
    ) {
        // `url` is the raw path: the unescape callback leaves it as sent.
        (HTTPMethod(method.map { String(cString: $0) } ?? ""), bytes(of: url))
    }
    switch current {
    case .new: requestContext.pointee = nil
    case .headersSeen: requestContext.pointee = headersSeenMarker
    case .context(let request) where stored == headersSeenMarker || stored == nil:
        // Retained: libmicrohttpd keeps it until `requestCompleted`.
        requestContext.pointee = Unmanaged.passRetained(request).toOpaque()
    case .context: break
    }
    uploadDataSize.pointee = 0
    switch step {
    case .proceed:
        return .YES
    case .send(let response):
        return response.queue(on: handle) ? .YES : .NO
    case .stream(let stream, let connection):
        return queueStream(stream, reading: connection, on: handle) ? .YES : .NO
    case .upgrade(let upgrade):
        return queueUpgrade(upgrade, on: handle, context: context) ? .YES : .NO
    case .abort:
        return .NO
    }
}

/// Queues a streamed response whose body `connection` produces, with chunked encoding.
private func queueStream(
    _ stream: HTTPStream, reading connection: StreamConnection, on handle: ConnectionHandle
)
    -> Bool
{
    // Retained: libmicrohttpd keeps it as the reader's context until `releaseStream`.
    let context = Unmanaged.passRetained(connection).toOpaque()
    guard
        let response = MHD_create_response_from_callback(
            cmhd_size_unknown, 4096, readStream, context, releaseStream)
    else {
        Unmanaged<StreamConnection>.fromOpaque(context).release()
        return false
    }
    defer { MHD_destroy_response(response) }
    return HTTPResponse(status: stream.status, headers: stream.headers).queue(response, on: handle)
}

/// Queues the `101` of an upgrade; once it is sent, libmicrohttpd calls `upgradeConnection`.
private func queueUpgrade(
    _ upgrade: HTTPUpgrade, on handle: ConnectionHandle, context: UnsafeMutableRawPointer?
) -> Bool {
    // The dispatcher, unretained as for every callback; the upgrade's handler is found through
    // the request's context, which libmicrohttpd keeps until the request completes.
    guard let response = MHD_create_response_for_upgrade(upgradeConnection, context) else {
        return false
    }
    defer { MHD_destroy_response(response) }
    let switching = HTTPResponse(status: .switchingProtocols, headers: upgrade.headers)
    return switching.queue(response, on: handle)
}

/// `MHD_UpgradeHandler`: the `101` was sent and the socket is ours until `cmhd_upgrade_close`.
private func upgradeConnection(
    _ context: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ requestContext: UnsafeMutableRawPointer?, _ input: UnsafePointer<CChar>?, _ inputSize: Int,
    _ socket: Int32, _ handle: OpaquePointer?
) {
    guard let handle else { return }
    let responseHandle = UpgradeResponseHandle(pointer: handle)
    guard case .context(let request) = slot(from: requestContext) else {
        preconditionFailure("an upgraded request has no context")
    }
    let bytes = input.map { Array(UnsafeRawBufferPointer(start: $0, count: inputSize)) } ?? []
    dispatcher(from: context).upgraded(
        request, on: openConnection(of: connection), socket: socket, handle: responseHandle, input: bytes)
}

/// `MHD_ContentReaderCallback`: the next piece of a streamed body.
private func readStream(
    _ context: UnsafeMutableRawPointer?, _: UInt64, _ buffer: UnsafeMutablePointer<CChar>?, _ limit: Int
) -> Int {
    guard let context, let buffer else { return endWithError }
    let stream = Unmanaged<StreamConnection>.fromOpaque(context).takeUnretainedValue()
    switch stream.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: limit)) {
    case .bytes(let count): return count
    case .suspended: return 0
    case .end: return endOfStream
    case .failed: return endWithError
    }
}

/// `MHD_ContentReaderFreeCallback`: the streamed response is destroyed; its context released.
private func releaseStream(_ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<StreamConnection>.fromOpaque(context).release()
}

/// `MHD_CONTENT_READER_END_OF_STREAM` and `MHD_CONTENT_READER_END_WITH_ERROR`, which Swift does
/// not import (macros of casts).
private var endOfStream: Int { -1 }
private var endWithError: Int { -2 }

/// `MHD_RequestCompletedCallback`: the request is over; its context is released here.
private func requestCompleted(
    _ context: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ termination: MHD_RequestTerminationCode
) {
    guard let requestContext, let stored = requestContext.pointee else { return }
    requestContext.pointee = nil
    let finished = slot(from: stored)
    if stored != headersSeenMarker {
        Unmanaged<RequestContext>.fromOpaque(stored).release()
    }
    let reason: String? =
        switch termination {
        case .REQUEST_TERMINATED_COMPLETED_OK: nil
        case .REQUEST_TERMINATED_WITH_ERROR: "error"
        case .REQUEST_TERMINATED_TIMEOUT_REACHED: "timeout"
        case .REQUEST_TERMINATED_DAEMON_SHUTDOWN: "shutdown"
        case .REQUEST_TERMINATED_READ_ERROR: "read error"
        case .REQUEST_TERMINATED_CLIENT_ABORT: "client abort"
        default: "code \(termination.rawValue)"
        }
    dispatcher(from: context).requestFinished(finished, on: openConnection(of: connection), reason: reason)
}

/// `MHD_UnescapeCallback`: leaves everything as sent, so the access handler's `url` is the raw
/// path and the server decodes path segments itself: `a%2Fb` stays one segment.
private func leaveEscaped(
    _: UnsafeMutableRawPointer?, _: OpaquePointer?, _ text: UnsafeMutablePointer<CChar>?
) -> Int {
    text.map { strlen($0) } ?? 0
}

/// `MHD_LogCallback`: libmicrohttpd's own diagnostics, into the server's logger.
private func logMessage(
    _ context: UnsafeMutableRawPointer?, _ format: UnsafePointer<CChar>?,
    _ arguments: CVaListPointer?
) {
    guard let format, let arguments else { return }
    var buffer = [CChar](repeating: 0, count: 512)
    _ = vsnprintf(&buffer, buffer.count, format, arguments)
    var message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    while message.last?.isNewline == true { message.removeLast() }
    // Debug: every failure that matters is also reported by the server itself, while
    // libmicrohttpd's messages include routine ones, such as closing an abandoned connection.
    dispatcher(from: context).logger.debug("libmicrohttpd: \(message)")
}

private func bytes(of text: UnsafePointer<CChar>?) -> [UInt8] {
    guard let text else { return [] }
    let length = strlen(text)
    return text.withMemoryRebound(to: UInt8.self, capacity: length) { text in
        Array(UnsafeBufferPointer(start: text, count: length))
    }
}

extension ConnectionHandle {
    /// Every value of a request header, in the order sent (`MHD_get_connection_values`).
    func headerValues(named name: StaticString) -> [String] {
        var found = (name: name, values: [String]())
        withUnsafeMutablePointer(to: &found) { found in
            _ = MHD_get_connection_values(
                pointer, .HEADER_KIND,
                { context, _, key, value in
                    guard let context, let key else { return .YES }
                    let found = context.assumingMemoryBound(
                        to: (name: StaticString, values: [String]).self)
                    if isHeader(key, named: found.pointee.name) {
                        found.pointee.values.append(value.map { String(cString: $0) } ?? "")
                    }
                    return .YES
                }, found)
        }
        return found.values
    }

    /// The framing facts of the request's header fields, in one pass that allocates nothing;
    /// it stops at the first name that is not a token. O(header bytes).
    func headerFieldSummary() -> HeaderFieldSummary {
        var summary = HeaderFieldSummary()
        withUnsafeMutablePointer(to: &summary) { summary in
            _ = MHD_get_connection_values(
                pointer, .HEADER_KIND,
                { context, _, key, _ in
                    guard let context, let key else { return .YES }
                    let summary = context.assumingMemoryBound(to: HeaderFieldSummary.self)
                    let length = strlen(key)
                    let isToken = key.withMemoryRebound(to: UInt8.self, capacity: length) { name in
                        HTTPToken.isToken(UnsafeBufferPointer(start: name, count: length))
                    }
                    guard isToken else {
                        summary.pointee.hasOnlyTokenNames = false
                        return .NO
                    }
                    if isHeader(key, named: "Host") {
                        summary.pointee.hostCount += 1
                    } else if isHeader(key, named: "Content-Length") {
                        summary.pointee.contentLengthCount += 1
                    } else if isHeader(key, named: "Transfer-Encoding") {
                        summary.pointee.transferEncodingCount += 1
                    }
                    return .YES
                }, summary)
        }
        return summary
    }

    /// The query's pairs as sent (`MHD_get_connection_values_n`), split by libmicrohttpd and
    /// left percent-encoded by the unescape callback; a pair without `=` has an empty value.
    func rawQueryPairs() -> [(name: [UInt8], value: [UInt8])] {
        var pairs: [(name: [UInt8], value: [UInt8])] = []
        withUnsafeMutablePointer(to: &pairs) { pairs in
            _ = MHD_get_connection_values_n(
                pointer, .GET_ARGUMENT_KIND,
                { context, _, key, keyLength, value, valueLength in
                    guard let context else { return .YES }
                    let pairs = context.assumingMemoryBound(to: [(name: [UInt8], value: [UInt8])].self)
                    let name = UnsafeRawBufferPointer(start: key, count: key == nil ? 0 : keyLength)
                    let value = UnsafeRawBufferPointer(
                        start: value, count: value == nil ? 0 : valueLength)
                    pairs.pointee.append((Array(name), Array(value)))
                    return .YES
                }, pairs)
        }
        return pairs
    }
}

/// Whether the header field name `key` is `name`, ignoring case.
private func isHeader(_ key: UnsafePointer<CChar>, named name: StaticString) -> Bool {
    name.withUTF8Buffer { name in
        name.withMemoryRebound(to: CChar.self) { name in
            guard let start = name.baseAddress else { return false }
            return strlen(key) == name.count && strncasecmp(key, start, name.count) == 0
        }
    }
}
