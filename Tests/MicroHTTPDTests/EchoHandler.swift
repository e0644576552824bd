import Dispatch
import KeygateTestSupport
import MicroHTTPD

/// A handler for server tests: answers what it received, or parks on request.
///
/// - `/echo`: 200 with `method path`, the query items and the body as text.
/// - `/park?timeout=MS`: parks; the parked request is handed to `parked` for the test to answer.
/// - `/header`: 200 with the values of `X-Test` joined by `|`.
/// - `/upgrade`: 101 with `Upgrade: echo`; the socket then goes to `upgrade`.
/// - `/upgrade-thread`: 101 with `Upgrade: thread`; a handler of its own then sends the
///   socket the number of the thread serving it, as 8 bytes, and keeps it open.
final class EchoHandler: HTTPHandler {
    /// Parked requests, in arrival order, for the test to answer.
    let parked = TestLock<[ParkedRequest]>([])
    /// Signalled once per parked request, after it is recorded.
    let parkedSignal = DispatchSemaphore(value: 0)
    /// Signalled once per parked request whose client left before an answer.
    let abandonedSignal = DispatchSemaphore(value: 0)
    /// What serves upgraded sockets; one handler for every upgrade.
    let upgrade = EchoUpgrade()

    func answer(_ request: HTTPRequest) -> HTTPAnswer {
        let path = request.pathText
        switch path {
        case "/park":
            let timeout =
                (try? request.queryItems())?.first { $0.name == "timeout" }
                .flatMap { Int($0.value) } ?? 10_000
            return .park(
                ParkingPlan(
                    timeout: .milliseconds(timeout),
                    onPark: { [self] parked in
                        self.parked.withLock { $0.append(parked) }
                        parkedSignal.signal()
                    },
                    onTimeout: { HTTPResponse(status: .noContent) },
                    onAbandon: { [self] in abandonedSignal.signal() }))
        case "/upgrade":
            return .upgrade(HTTPUpgrade(headers: [HTTPHeader("Upgrade", "echo")], handler: upgrade))
        case "/upgrade-thread":
            return .upgrade(
                HTTPUpgrade(headers: [HTTPHeader("Upgrade", "thread")], handler: ThreadReportingUpgrade()))
        case "/header":
            let values = request.headerValues("X-Test").joined(separator: "|")
            return .respond(HTTPResponse(status: .ok, body: Array(values.utf8)))
        default:
            var text = "\(request.method) \(path)\n"
            do {
                for item in try request.queryItems() {
                    text += "\(item.name)=\(item.value)\n"
                }
            } catch {
                return .respond(response(for: error))
            }
            return .respond(
                HTTPResponse(
                    status: .ok, headers: [HTTPHeader("Content-Type", "text/plain")],
                    body: Array(text.utf8) + request.body))
        }
    }

    func response(for error: HTTPError) -> HTTPResponse {
        HTTPResponse(status: error.status, headers: error.headers, body: Array(error.detail.utf8))
    }

    /// Waits until `count` requests in total have been parked; `false` after 10 s.
    func waitForParked(count: Int) -> Bool {
        while parked.withLock({ $0.count }) < count {
            guard parkedSignal.wait(timeout: .now() + 10) == .success else { return false }
        }
        return true
    }
}
