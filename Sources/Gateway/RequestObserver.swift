import Logging
import MicroHTTPD

/// Counts every answered request in the metrics and writes its access-log line.
///
/// With both off, nothing is measured: no clock is read and nothing is kept.
struct RequestObserver: Sendable {
    /// What is kept of a request from its routing to its answer.
    struct Record: Sendable {
        /// The endpoint, once routed.
        var route = RouteLabel.unmatched
        let method: HTTPMethod
        let started: ContinuousClock.Instant
        let bytesReceived: Int
        /// The path as sent and the client's address, kept only for the access log.
        let logged: (path: String, client: String)?
    }

    /// Where requests are counted; `nil` when metrics are off.
    let metrics: GatewayMetrics?
    /// Where access-log lines go; `nil` when the access log is off.
    let accessLogger: Logger?

    /// A record of `request`, started now, or `nil` when nothing observes requests.
    func begin(_ request: HTTPRequest) -> Record? {
        guard metrics != nil || accessLogger != nil else { return nil }
        return Record(
            method: request.method, started: .now, bytesReceived: request.body.count,
            logged: accessLogger == nil ? nil : (request.pathText, request.clientAddress))
    }

    /// The request of `record` was answered with `status` and a body of `bytesSent` bytes.
    func finish(_ record: Record?, status: HTTPStatus, bytesSent: Int) {
        guard let record else { return }
        let duration = ContinuousClock.now - record.started
        // libmicrohttpd sends no body in answer to HEAD.
        let bytesSent = record.method == .head ? 0 : bytesSent
        metrics?.countRequest(
            route: record.route, method: record.method, status: status, duration: duration,
            bytesReceived: record.bytesReceived, bytesSent: bytesSent)
        if let accessLogger, let logged = record.logged {
            // Never a value or a message: only what routing and the status line show.
            accessLogger.info(
                "request",
                metadata: [
                    "method": "\(record.method)",
                    "path": "\(logged.path)",
                    "status": "\(status.code)",
                    "bytes": "\(bytesSent)",
                    "duration_ms": "\(Self.milliseconds(duration))",
                    "client": "\(logged.client)",
                ])
        }
    }

    /// A duration in milliseconds with three decimals.
    private static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let microseconds = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        let (whole, fraction) = microseconds.quotientAndRemainder(dividingBy: 1000)
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: 3 - digits.count) + digits
    }
}
