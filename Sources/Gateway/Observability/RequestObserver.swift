import Glibc
import Logging
import MicroHTTPD

/// Counts every answered request in the metrics and writes its access-log line.
///
/// With both off, nothing is measured: no clock is read and nothing is kept. With metrics on,
/// a request costs two reads of the monotonic clock, a counter, a histogram and a byte count;
/// the record kept in between is plain values, so copying it costs no reference counting.
struct RequestObserver: Sendable {
    /// What is kept of a request from its routing to its answer.
    struct Record: Sendable {
        /// The index of its route in the route table, once routed; `nil` when none matched.
        var route: Int?
        /// The name of the token it was made with, for the access log (never the token).
        var tokenName: String?
        let methodIndex: Int
        /// libmicrohttpd sends no body in answer to `HEAD`.
        let isHead: Bool
        /// When the handler was called, in nanoseconds of the monotonic clock.
        let started: UInt64
        let bytesReceived: Int
        /// What the access log shows besides the figures; `nil` when the access log is off.
        let logged: LoggedRequest?
    }

    /// The text an access-log line shows of a request, read when the request arrives (the
    /// connection may be gone once a parked request is answered).
    final class LoggedRequest: Sendable {
        let method: String
        let path: String
        let client: String

        init(_ request: HTTPRequest) {
            method = request.method.rawValue
            path = request.pathText
            client = request.clientAddress
        }
    }

    /// Where requests are counted; `nil` when metrics are off.
    let metrics: GatewayMetrics?
    /// Where access-log lines go; `nil` when the access log is off.
    let accessLogger: Logger?

    /// A record of `request`, started now, or `nil` when nothing observes requests.
    func begin(_ request: HTTPRequest) -> Record? {
        guard metrics != nil || accessLogger != nil else { return nil }
        return Record(
            methodIndex: request.method.commonIndex, isHead: request.method.isHead,
            started: Self.monotonicNanoseconds(), bytesReceived: request.body.count,
            logged: accessLogger == nil ? nil : LoggedRequest(request))
    }

    /// The request of `record` was answered with `status` and a body of `bytesSent` bytes.
    func finish(_ record: Record?, status: HTTPStatus, bytesSent: Int) {
        guard let record else { return }
        let nanoseconds = Self.monotonicNanoseconds() - record.started
        let bytesSent = record.isHead ? 0 : bytesSent
        metrics?.countRequest(
            route: record.route, methodIndex: record.methodIndex, status: status,
            nanoseconds: nanoseconds, bytesReceived: record.bytesReceived, bytesSent: bytesSent)
        if let accessLogger, let logged = record.logged {
            // Never a value or a message: only what routing and the status line show.
            accessLogger.info(
                "request",
                metadata: [
                    "method": "\(logged.method)",
                    "path": "\(logged.path)",
                    "status": "\(status.code)",
                    "bytes": "\(bytesSent)",
                    "duration_ms": "\(Self.milliseconds(nanoseconds))",
                    "client": "\(logged.client)",
                    "token": "\(record.tokenName ?? "-")",
                ])
        }
    }

    /// The monotonic clock in nanoseconds, read straight from the system: a fifth of the cost
    /// of `ContinuousClock.now` or `DispatchTime.now()`, and read twice per request.
    private static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        // Cannot fail: the clock exists on every Linux, and `time` is valid.
        _ = clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Nanoseconds as milliseconds with three decimals.
    private static func milliseconds(_ nanoseconds: UInt64) -> String {
        let (whole, fraction) = (nanoseconds / 1000).quotientAndRemainder(dividingBy: 1000)
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: 3 - digits.count) + digits
    }
}
