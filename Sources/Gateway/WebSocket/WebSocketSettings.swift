/// What a WebSocket session accepts, with production defaults.
package struct WebSocketSettings: Sendable {
    /// The largest message a client may send, all fragments together; a larger one closes the
    /// connection with 1009. Default 1 MiB.
    package var maxMessageBytes = 1024 * 1024
    /// How long a client may stay silent before it is pinged, and then how long it has to
    /// answer before it is closed. Default 30 s.
    package var pingInterval = Duration.seconds(30)
    /// Pops one socket may have waiting at once. Default 1 000.
    package var maxWaitingPops = 1000
    /// Subscriptions one socket may hold at once. Default 100.
    package var maxSubscriptions = 100

    /// Settings with every default.
    package init() {}
}
