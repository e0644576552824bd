import Dispatch
import Foundation
import Gateway
import KeygateTestSupport
import Keyspace
import Testing

/// The samples of a Prometheus text exposition (version 0.0.4), parsed strictly enough that a
/// malformed line fails the test.
struct PrometheusSamples {
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    let samples: [Sample]
    /// The metric families with a `# TYPE` line, and those with a `# HELP` line.
    let typed: Set<String>
    let documented: Set<String>

    init(_ text: String) throws {
        var samples: [Sample] = []
        var typed: Set<String> = []
        var documented: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let fields = line.split(separator: " ", maxSplits: 3)
                guard fields.count >= 4 else { throw Self.malformed(line) }
                if fields[1] == "TYPE" {
                    guard ["counter", "gauge", "histogram"].contains(fields[3]) else {
                        throw Self.malformed(line)
                    }
                    typed.insert(String(fields[2]))
                } else {
                    documented.insert(String(fields[2]))
                }
                continue
            }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
            else { throw Self.malformed(line) }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = series
            if let open = series.firstIndex(of: "{") {
                guard series.last == "}" else { throw Self.malformed(line) }
                name = series[..<open]
                for pair in series[series.index(after: open)..<series.index(before: series.endIndex)]
                    .split(separator: ",")
                {
                    guard let equals = pair.firstIndex(of: "="), pair.hasSuffix("\""),
                        pair[pair.index(after: equals)...].hasPrefix("\"")
                    else { throw Self.malformed(line) }
                    labels[String(pair[..<equals])] = String(
                        pair[pair.index(equals, offsetBy: 2)..<pair.index(before: pair.endIndex)])
                }
            }
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else {
                throw Self.malformed(line)
            }
            samples.append(Sample(name: String(name), labels: labels, value: value))
        }
        self.samples = samples
        self.typed = typed
        self.documented = documented
    }

    /// The value of the one sample named `name` with exactly these labels (others may differ
    /// only by not being asked); 0 when absent, as Prometheus reads a series not yet made.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.first { $0.name == name && $0.labels == labels }?.value ?? 0
    }

    private static func malformed(_ line: Substring) -> TestHTTPClient.Failure {
        TestHTTPClient.Failure(description: "not Prometheus text: \(line)")
    }
}

@Suite("Metrics over HTTP")
struct MetricsTests {
    private func scrape(_ gateway: GatewayFixture) throws -> PrometheusSamples {
        let response = try gateway.request("GET", "/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let samples = try PrometheusSamples(response.text)
        #expect(samples.typed == samples.documented, "every metric has a HELP line")
        return samples
    }

    @Test func countsRequestsByRouteMethodAndStatus() throws {
        try withGateway { gateway in
            #expect(try gateway.request("PUT", "/v1/cache/a", text: "hello").status == 201)
            for _ in 0..<3 {
                #expect(try gateway.request("GET", "/v1/cache/a").status == 200)
            }
            #expect(try gateway.request("GET", "/v1/cache/missing").status == 404)
            #expect(try gateway.request("GET", "/v1/nothing-here").status == 404)
            #expect(try gateway.request("DELETE", "/healthz").status == 405)
            #expect(try gateway.request("POST", "/v1/queues/q", text: "abc").status == 201)

            let metrics = try scrape(gateway)
            let requests = "keygate_http_requests_total"
            let cache = "/v1/cache/{key}"
            #expect(metrics.value(requests, ["route": cache, "method": "GET", "status": "200"]) == 3)
            #expect(metrics.value(requests, ["route": cache, "method": "PUT", "status": "201"]) == 1)
            #expect(metrics.value(requests, ["route": cache, "method": "GET", "status": "404"]) == 1)
            #expect(metrics.value(requests, ["route": "unmatched", "method": "GET", "status": "404"]) == 1)
            #expect(
                metrics.value(requests, ["route": "unmatched", "method": "DELETE", "status": "405"]) == 1)
            #expect(
                metrics.value(requests, ["route": "/v1/queues/{name}", "method": "POST", "status": "201"])
                    == 1)
            let durations = "keygate_http_request_duration_seconds"
            #expect(metrics.value(durations + "_count", ["route": cache]) == 5)
            #expect(metrics.value(durations + "_bucket", ["route": cache, "le": "+Inf"]) == 5)
            #expect(metrics.value(durations + "_sum", ["route": cache]) > 0)
            #expect(metrics.value("keygate_received_bytes_total", ["transport": "http"]) == 8)
            // The three 5-byte values, `{"length":1}` and the bodies of three problems.
            #expect(metrics.value("keygate_sent_bytes_total", ["transport": "http"]) > 15 + 12 + 3 * 50)
            #expect(metrics.value("keygate_keys", ["type": "string"]) == 1)
            #expect(metrics.value("keygate_keys", ["type": "queue"]) == 1)
            #expect(metrics.value("keygate_events_published_total") == 2)
            #expect(metrics.value("keygate_open_connections") >= 1)

            // Counters only move forward, and the scrape itself is counted from the next one.
            let again = try scrape(gateway)
            #expect(again.value(requests, ["route": "/metrics", "method": "GET", "status": "200"]) == 1)
            #expect(again.value("keygate_events_published_total") == 2)
        }
    }

    @Test func countsExpirationsAndHowLateTheyWere() throws {
        try withGateway { gateway in
            #expect(try gateway.request("PUT", "/v1/cache/soon?ttl=1", text: "x").status == 201)
            #expect(try gateway.request("PUT", "/v1/cache/later?ttl=100", text: "x").status == 201)
            gateway.clock.advance(by: .milliseconds(1500))
            #expect(gateway.keyspace.expireDueKeys().expired.count == 1)

            let metrics = try scrape(gateway)
            #expect(metrics.value("keygate_keys_expired_total") == 1)
            let lateness = "keygate_expiry_lateness_seconds"
            #expect(metrics.value(lateness + "_count") == 1)
            #expect(metrics.value(lateness + "_sum") == 0.5)
            #expect(metrics.value(lateness + "_bucket", ["le": "0.25"]) == 0)
            #expect(metrics.value(lateness + "_bucket", ["le": "0.5"]) == 1)
            #expect(metrics.value("keygate_keys", ["type": "string"]) == 1)
        }
    }

    @Test func countsParkedPopsWhileTheyWaitAndOnceAnswered() throws {
        try withGateway(realTime: true) { gateway in
            let waiting = try gateway.client()
            try waiting.send(TestHTTPClient.encode("POST", "/v1/queues/jobs/pop?wait=10"))
            try gateway.waitForConsumers(1, on: "jobs")
            let parked = try scrape(gateway)
            #expect(parked.value("keygate_waiting_consumers") == 1)
            #expect(parked.value("keygate_open_connections") >= 2)

            _ = try gateway.request("POST", "/v1/queues/jobs", text: "job")
            #expect(try waiting.readResponse(method: "POST").text == "job")
            #expect(try gateway.request("POST", "/v1/queues/jobs/pop?wait=0.05").status == 204)

            // A consumer that leaves before its answer is counted as nginx counts it, 499.
            let leaving = try gateway.client()
            try leaving.send(TestHTTPClient.encode("POST", "/v1/queues/jobs/pop?wait=10"))
            try gateway.waitForConsumers(1, on: "jobs")
            leaving.shutDownWrites()
            try gateway.waitForConsumers(0, on: "jobs", atMost: true)

            let pops = "/v1/queues/{name}/pop"
            let requests = "keygate_http_requests_total"
            var answered = try scrape(gateway)
            let deadline = ContinuousClock.now + .seconds(5)
            while answered.value(requests, ["route": pops, "method": "POST", "status": "499"]) == 0,
                ContinuousClock.now < deadline
            {
                Thread.sleep(forTimeInterval: 0.01)
                answered = try scrape(gateway)
            }
            #expect(answered.value(requests, ["route": pops, "method": "POST", "status": "200"]) == 1)
            #expect(answered.value(requests, ["route": pops, "method": "POST", "status": "204"]) == 1)
            #expect(answered.value(requests, ["route": pops, "method": "POST", "status": "499"]) == 1)
            #expect(answered.value("keygate_waiting_consumers") == 0)
            // The long poll's wait is part of its duration.
            #expect(answered.value("keygate_http_request_duration_seconds_sum", ["route": pops]) >= 0.05)
        }
    }

    @Test func countsEventStreamsTheirBytesAndTheirGaps() throws {
        try withGateway(eventHistory: 4) { gateway in
            for index in 0..<10 {
                _ = try gateway.request("PUT", "/v1/cache/k\(index)", text: "v")
            }
            // Resuming after event 1 of 10 when only the last 4 are kept: ids 2 to 6 are lost.
            let reader = try gateway.subscribe("last_event_id=1")
            #expect(try reader.nextEvent()?.event == "gap")
            let metrics = try scrape(gateway)
            #expect(metrics.value("keygate_event_streams") == 1)
            #expect(metrics.value("keygate_event_gaps_total") == 1)
            #expect(metrics.value("keygate_events_dropped_total") == 5)
            #expect(metrics.value("keygate_sent_bytes_total", ["transport": "sse"]) > 0)
        }
    }

    @Test func metricsCanBeTurnedOff() throws {
        let metricsOff: (inout KeygateServer.Configuration) -> Void = { $0.gateway.isMetricsEnabled = false }
        try withGateway(configure: metricsOff) { gateway in
            expectProblem(try gateway.request("GET", "/metrics"), status: 404)
            #expect(try gateway.request("GET", "/healthz").status == 200)
        }
    }
}

@Suite("Readiness over HTTP")
struct ReadinessTests {
    @Test func readyWhileServingAndNotOnceStopping() throws {
        try withGateway(realTime: true) { gateway in
            let ready = try gateway.request("GET", "/readyz")
            #expect(ready.status == 200)
            #expect(ready.text == #"{"status":"ready"}"#)
            #expect(try gateway.request("GET", "/healthz").status == 200)

            // A WebSocket that never answers the server's goodbye keeps it stopping for a while.
            let socket = try gateway.client()
            try socket.send(
                TestHTTPClient.encode(
                    "GET", "/v1/ws",
                    headers: [
                        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
                        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ]))
            #expect(try socket.readStreamHead().status == 101)
            let balancer = try gateway.client()
            #expect(try balancer.request("GET", "/readyz").status == 200)

            let stopped = DispatchSemaphore(value: 0)
            let server = gateway.server
            DispatchQueue.global().async {
                server.stop()
                stopped.signal()
            }
            // The goodbye (a close frame) says the server is stopping.
            try socket.readRaw(atLeast: 2)
            let stopping = try balancer.request("GET", "/readyz")
            #expect(stopping.status == 503)
            #expect(stopping.header("Content-Type") == "application/problem+json")
            socket.shutDownWrites()
            stopped.wait()
        }
    }
}
