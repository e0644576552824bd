import Atomics
import CoreMetrics
import MicroHTTPD
import Synchronization

/// `keygate_http_requests_total{route, method, status}`: one counter per series, made on first
/// use and then found without a lock.
///
/// Every request counts itself here, so the lookup is an index into a table of lazily set
/// references, one per route, method and common status; a status outside the common ones (no
/// route answers one today) falls back to a dictionary under a lock.
final class RequestCounters: Sendable {
    /// The statuses with a slot of their own: every status the gateway answers with, and 499
    /// for a parked request whose client left before its answer.
    private static let commonStatuses = [
        101, 200, 201, 204, 301, 304, 400, 403, 404, 405, 409, 412, 413, 415, 426, 429, 499, 500, 503,
    ]
    /// The slot of each status code below 600 among `commonStatuses`, or -1.
    private static let statusSlots: [Int] = {
        var slots = [Int](repeating: -1, count: 600)
        for (slot, code) in commonStatuses.enumerated() {
            slots[code] = slot
        }
        return slots
    }()

    private struct SeriesKey: Hashable {
        let route: RouteLabel
        let method: Int
        let status: Int
    }

    private let label: String
    private let factory: any MetricsFactory
    private let slots: [ManagedAtomicLazyReference<Counter>]
    private let uncommon = Mutex<[SeriesKey: Counter]>([:])

    /// Counters named `label`, made by `factory`.
    init(label: String, factory: any MetricsFactory) {
        self.label = label
        self.factory = factory
        let count = RouteLabel.allCases.count * HTTPMethod.commonCount * Self.commonStatuses.count
        slots = (0..<count).map { _ in ManagedAtomicLazyReference() }
    }

    /// Counts one request. O(1); no lock for a common status.
    func increment(route: RouteLabel, method: HTTPMethod, status: HTTPStatus) {
        let code = status.code
        let statusSlot = (0..<Self.statusSlots.count).contains(code) ? Self.statusSlots[code] : -1
        guard statusSlot >= 0 else {
            let key = SeriesKey(route: route, method: method.commonIndex, status: code)
            uncommon.withLock { counters in
                if let counter = counters[key] { return counter }
                let counter = makeCounter(route: route, method: method, status: code)
                counters[key] = counter
                return counter
            }.increment()
            return
        }
        let slot =
            (route.rawValue * HTTPMethod.commonCount + method.commonIndex) * Self.commonStatuses.count
            + statusSlot
        let counter =
            slots[slot].load()
            ?? slots[slot].storeIfNilThenLoad(makeCounter(route: route, method: method, status: code))
        counter.increment()
    }

    private func makeCounter(route: RouteLabel, method: HTTPMethod, status: Int) -> Counter {
        // The registry returns the same series for the same labels, so a counter made twice
        // by a race counts into one series.
        Counter(
            label: label,
            dimensions: [("route", route.text), ("method", method.commonName), ("status", String(status))],
            factory: factory)
    }
}
