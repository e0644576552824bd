import Foundation
import Gateway
import KeygateTestSupport
import Keyspace
import Logging
import MicroHTTPD

/// A running gateway on a free port, over a keyspace on a manual clock, serving a temporary
/// `public/` folder; stopped and removed however the test ends.
struct GatewayFixture {
    let server: KeygateServer
    let clock: ManualClock
    let publicDirectory: URL

    /// The repository's `openapi.yaml`, found from this file's path.
    static let openAPIFile = URL(filePath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "openapi.yaml").path()

    var port: Int { server.port }
    var keyspace: KeyspaceEngine { server.keyspace }

    /// The keyspace's time to live for `key`, read directly.
    func timeToLive(of key: String) throws -> TimeToLive? {
        keyspace.timeToLive(forKey: try Key(key))
    }

    /// Whether the keyspace holds a value at `key`, read directly.
    func hasValue(at key: String) throws -> Bool {
        try keyspace.value(forKey: Key(key)) != nil
    }

    /// Waits until at least (or, with `atMost`, at most) `count` consumers are parked on
    /// `queue`, asking the keyspace; fails after 30 s (400 connections under ThreadSanitizer
    /// on a loaded CI machine once took more than 10).
    func waitForConsumers(_ count: Int, on queue: String, atMost: Bool = false) throws {
        let patience = TestTiming.scaled(.seconds(30))
        let deadline = ContinuousClock.now + patience
        func isReached() throws -> Bool {
            let consumers = try keyspace.queueInfo(Key(queue)).consumers
            return atMost ? consumers <= count : consumers >= count
        }
        while try !isReached() {
            guard ContinuousClock.now < deadline else {
                throw TestHTTPClient.Failure(
                    description: "consumers on \(queue) did not reach \(count) within \(patience)")
            }
            Thread.sleep(forTimeInterval: 0.002)
        }
    }

    /// Opens `GET /v1/events` with `query` (and `headers`), checks its head, and returns a
    /// reader positioned after the `retry` block.
    func subscribe(_ query: String = "", headers: [(String, String)] = []) throws -> ServerSentEventReader {
        let client = try client()
        try client.send(
            TestHTTPClient.encode("GET", "/v1/events" + (query.isEmpty ? "" : "?" + query), headers: headers))
        let head = try client.readStreamHead()
        guard head.status == 200, head.header("Content-Type") == "text/event-stream" else {
            throw TestHTTPClient.Failure(description: "not an event stream: \(head.status)")
        }
        let reader = ServerSentEventReader(client: client)
        guard try reader.next()?.retry != nil else {
            throw TestHTTPClient.Failure(description: "the stream does not start with retry")
        }
        return reader
    }

    /// A new connection to the gateway.
    func client() throws -> TestHTTPClient {
        try TestHTTPClient(port: port)
    }

    /// One request on a new connection.
    func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) throws -> TestResponse {
        try client().request(method, target, headers: headers, body: body)
    }

    /// One request with a text body on a new connection.
    func request(_ method: String, _ target: String, headers: [(String, String)] = [], text: String)
        throws -> TestResponse
    {
        try client().request(method, target, headers: headers, text: text)
    }
}

/// Runs `body` against a fresh gateway. With `realTime`, the keyspace runs on the system clock
/// with its expirer, and `GatewayFixture.clock` moves nothing; `configure` changes anything
/// else of the configuration.
func withGateway(
    maxBodyBytes: Int? = nil, eventHistory: Int? = nil, heartbeat: Duration? = nil,
    realTime: Bool = false, configure: (inout KeygateServer.Configuration) -> Void = { _ in },
    _ body: (GatewayFixture) throws -> Void
) throws {
    let publicDirectory = FileManager.default.temporaryDirectory
        .appending(path: "keygate-public-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
        at: publicDirectory.appending(path: "docs"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: publicDirectory) }
    try Data("<!doctype html><title>Keygate</title>".utf8)
        .write(to: publicDirectory.appending(path: "index.html"))
    try Data("body { color: black }".utf8).write(to: publicDirectory.appending(path: "style.css"))
    try Data("docs".utf8).write(to: publicDirectory.appending(path: "docs/index.html"))

    var configuration = KeygateServer.Configuration()
    configuration.http.port = 0
    configuration.gateway.publicDirectory = publicDirectory.path()
    configuration.gateway.openAPIFile = GatewayFixture.openAPIFile
    if let maxBodyBytes {
        configuration.http.maxBodyBytes = maxBodyBytes
    }
    if let eventHistory {
        configuration.keyspace.eventHistory = eventHistory
    }
    if let heartbeat {
        configuration.gateway.heartbeat = heartbeat
    }
    configure(&configuration)
    var logger = Logger(label: "gateway-test")
    logger.logLevel = .error
    let clock = ManualClock()
    let server = try KeygateServer.start(
        configuration: configuration, clock: realTime ? SystemClock() : clock, logger: logger)
    defer { server.stop() }
    try body(GatewayFixture(server: server, clock: clock, publicDirectory: publicDirectory))
}
