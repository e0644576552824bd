import Keyspace
import MicroHTTPD

extension Gateway {
    /// `GET /metrics`: every metric in the Prometheus text format; a 404 when metrics are off.
    func renderMetrics(_ request: HTTPRequest) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        guard let metrics else {
            throw GatewayError.notFound("Metrics are off on this server (--no-metrics).")
        }
        return .respond(
            HTTPResponse(
                status: .ok,
                headers: [
                    HTTPHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                    HTTPHeader("Cache-Control", "no-store"),
                ],
                body: metrics.render(eventStreams: fanOut.count)))
    }

    /// `GET /healthz`: liveness, what persistence is doing, and the keyspace's memory.
    func health(_ request: HTTPRequest) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        return .respond(.json(HealthBody(store.persistenceStatus, memory: store.memoryStatus)))
    }

    /// `GET /readyz`: 200 while serving, 503 while starting or stopping, or while the store
    /// cannot serve (its cluster is out of reach).
    func readiness(_ request: HTTPRequest) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        guard isAcceptingTraffic else { throw GatewayError.notReady }
        if let unavailability = store.unavailability {
            throw unavailability
        }
        return .respond(.json(["status": "ready"]))
    }
}
