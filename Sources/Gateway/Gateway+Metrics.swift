import MicroHTTPD

extension Gateway {
    /// `GET /metrics`: every metric in the Prometheus text format; a 404 when metrics are off.
    func renderMetrics(_ request: HTTPRequest) throws -> HTTPResponse {
        _ = try request.parameters(allowed: [])
        guard let metrics else {
            throw HTTPError.notFound("Metrics are off on this server (--no-metrics).")
        }
        return HTTPResponse(
            status: .ok,
            headers: [
                HTTPHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                HTTPHeader("Cache-Control", "no-store"),
            ],
            body: metrics.render(eventStreams: eventStreams.count))
    }
}
