/// Everything the gateway's API can be told, with production defaults; part of
/// `KeygateServer.Configuration`, handed down whole.
package struct GatewayConfiguration: Sendable {
    /// What clients may ask of operations: how long a pop waits, how many wait on one queue,
    /// how long a key is.
    package var limits = OperationLimits()
    /// How often an idle event stream gets a comment, to keep proxies and dead clients honest.
    /// Default 15 s.
    package var heartbeat = Duration.seconds(15)
    /// WebSocket sessions: message size, pings, per-socket limits.
    package var webSocket = WebSocketSettings()
    /// Which other origins' pages may call the API. Default none: same origin only.
    package var cors = CORSPolicy()
    /// The folder served at `/`. Default `./public`.
    package var publicDirectory = "./public"
    /// The contract served at `/openapi.yaml`. Default `./openapi.yaml`.
    package var openAPIFile = "./openapi.yaml"
    /// Whether requests and the keyspace are measured and `/metrics` serves them. Default on.
    package var isMetricsEnabled = true
    /// Whether every request is logged, at `info` under the label `keygate.access`. Default off.
    package var isAccessLogEnabled = false
    /// The token file; `nil` turns access control off. Default `nil`.
    package var tokenFile: String?
    /// How long a ticket (`POST /v1/tickets`) may be used. Default 60 s.
    package var ticketLifetime = Duration.seconds(60)
    /// Whether the server may listen on an address other than loopback without access
    /// control. Default off: it refuses to start (as Redis's protected mode).
    package var isAnonymousAllowed = false

    /// A configuration with every default.
    package init() {}
}
