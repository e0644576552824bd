/// The server's side of one WebSocket connection (RFC 6455) as a state machine: bytes and
/// time go in, actions come out. It answers pings, runs the closing handshake, checks that the
/// client is alive, and refuses binary messages; the application sees only text messages.
///
/// Pure: no socket and no clock. The caller performs the actions in order.
package struct WebSocketConnection {
    /// What the caller must do.
    package enum Action: Equatable, Sendable {
        /// A text message for the application.
        case deliver(String)
        /// Send these bytes (a pong or a ping).
        case send([UInt8])
        /// Send this close frame (none when empty), then close the socket; nothing follows.
        case close([UInt8])
        /// The client closed: send this close frame back, then close the socket. The client
        /// sends nothing more.
        case answerClose([UInt8])
    }

    /// How long the client may stay silent before it is pinged, and then how long it has to
    /// answer before the connection is closed.
    package let pingInterval: Duration
    private var decoder: FrameDecoder
    private var lastHeard: ContinuousClock.Instant
    private var pingSent: ContinuousClock.Instant?
    /// A close frame was sent: only the client's close, or the socket's end, is awaited.
    package private(set) var isClosing = false

    /// A connection opened at `now`, refusing messages over `maxMessageBytes`.
    package init(maxMessageBytes: Int, pingInterval: Duration, now: ContinuousClock.Instant) {
        decoder = FrameDecoder(maxMessageBytes: maxMessageBytes)
        self.pingInterval = pingInterval
        lastHeard = now
    }

    /// Bytes arrived from the client at `now`.
    package mutating func receive(_ bytes: some Collection<UInt8>, at now: ContinuousClock.Instant)
        -> [Action]
    {
        take(bytes, at: now)
    }

    /// Bytes arrived from the client at `now`, in a read buffer: the same as the generic form,
    /// but compiled for this type. Called from another module, the generic form runs
    /// unspecialized, copying the bytes in one by one through the protocol's witnesses.
    package mutating func receive(_ bytes: Span<UInt8>, at now: ContinuousClock.Instant) -> [Action] {
        bytes.withUnsafeBufferPointer { take($0, at: now) }
    }

    private mutating func take(_ bytes: some Collection<UInt8>, at now: ContinuousClock.Instant) -> [Action] {
        guard !isClosing else { return [] }
        lastHeard = now
        pingSent = nil
        decoder.feed(bytes)
        var actions: [Action] = []
        do {
            while let message = try decoder.next() {
                switch message {
                case .text(let text):
                    actions.append(.deliver(text))
                case .binary:
                    actions.append(
                        close(.unsupportedData, reason: "Binary messages are not accepted; send JSON text."))
                    return actions
                case .ping(let payload):
                    actions.append(.send(FrameEncoder.pong(payload)))
                case .pong:
                    break
                case .close(let code, _):
                    // The client starts the closing handshake: echo its code, then close.
                    isClosing = true
                    actions.append(
                        .answerClose(code.map { FrameEncoder.close($0) } ?? FrameEncoder.emptyClose))
                    return actions
                }
            }
        } catch {
            actions.append(close(error.code, reason: error.reason))
        }
        return actions
    }

    /// Time passed: pings a silent client, and closes one that did not answer in time.
    package mutating func tick(at now: ContinuousClock.Instant) -> [Action] {
        guard !isClosing else { return [] }
        if let pingSent {
            guard now - pingSent >= pingInterval else { return [] }
            return [close(.policyViolation, reason: "No answer to a ping.")]
        }
        guard now - lastHeard >= pingInterval else { return [] }
        pingSent = now
        return [.send(FrameEncoder.ping([]))]
    }

    /// Starts the closing handshake with `code`; `nil` when it is already started.
    package mutating func startClosing(_ code: CloseCode, reason: String) -> Action? {
        guard !isClosing else { return nil }
        return close(code, reason: reason)
    }

    private mutating func close(_ code: CloseCode, reason: String) -> Action {
        isClosing = true
        return .close(FrameEncoder.close(code, reason: reason))
    }
}
