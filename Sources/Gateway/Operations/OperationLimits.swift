/// What clients may ask of the operations, with production defaults.
package struct OperationLimits: Sendable {
    /// The longest a pop may wait for a message. Default 60 s.
    package var maxWait = Duration.seconds(60)
    /// Consumers one queue may have waiting, REST and WebSocket pops together. Default 10 000.
    package var maxWaitingPerQueue = 10_000
    /// The longest key taken, at most the engine's 1024 bytes. Default 1024.
    package var keys = KeyLimit()

    /// Limits with every default.
    package init() {}

    /// The most bytes of a key, 1 to 1024.
    package var maxKeyBytes: Int {
        get { keys.maxBytes }
        set { keys = KeyLimit(maxBytes: newValue) }
    }
}
