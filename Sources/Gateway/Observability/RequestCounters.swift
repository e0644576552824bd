import Atomics
import CoreMetrics
import MicroHTTPD
import Plumbing

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
        101, 200, 201, 204, 301, 304, 400, 401, 403, 404, 405, 408, 409, 410, 412, 413, 414, 415, 426, 429,
        431, 499,
        500, 503, 507,
    ]

    private struct SeriesKey: Hashable {
        let route: Int
        let methodIndex: Int
        let status: Int
    }

    private let label: String
    private let routeLabels: [String]
    private let factory: any MetricsFactory
    /// The slot of each status code below 600 among `commonStatuses`, or -1. Kept by each
    /// instance, like the counts below, so that the hot path reads no global.
    private let statusSlots: [Int]
    private let statusCount = commonStatuses.count
    private let methodCount = HTTPMethod.commonNames.count
    private let slots: [ManagedAtomicLazyReference<Counter>]
    private let uncommon = Mutex<[SeriesKey: Counter]>([:])

    /// Counters named `label`, made by `factory`, for the routes named `routeLabels` by index.
    init(label: String, routeLabels: [String], factory: any MetricsFactory) {
        self.label = label
        self.routeLabels = routeLabels
        self.factory = factory
        var statusSlots = [Int](repeating: -1, count: 600)
        for (slot, code) in Self.commonStatuses.enumerated() {
            statusSlots[code] = slot
        }
        self.statusSlots = statusSlots
        let count = routeLabels.count * methodCount * statusCount
        slots = (0..<count).map { _ in ManagedAtomicLazyReference() }
    }

    /// Counts one request of the method with `HTTPMethod.commonIndex` `methodIndex`. O(1); no
    /// lock for a common status.
    func increment(route: Int, methodIndex: Int, status: HTTPStatus) {
        let code = status.code
        let statusSlot = statusSlots.indices.contains(code) ? statusSlots[code] : -1
        guard statusSlot >= 0 else {
            let key = SeriesKey(route: route, methodIndex: methodIndex, status: code)
            uncommon.withLock { counters in
                if let counter = counters[key] { return counter }
                let counter = makeCounter(key)
                counters[key] = counter
                return counter
            }.increment()
            return
        }
        let slot = (route * methodCount + methodIndex) * statusCount + statusSlot
        let counter =
            slots[slot].load()
            ?? slots[slot].storeIfNilThenLoad(
                makeCounter(SeriesKey(route: route, methodIndex: methodIndex, status: code)))
        counter.increment()
    }

    private func makeCounter(_ series: SeriesKey) -> Counter {
        // The registry returns the same series for the same labels, so a counter made twice
        // by a race counts into one series.
        Counter(
            label: label,
            dimensions: [
                ("route", routeLabels[series.route]), ("method", HTTPMethod.commonNames[series.methodIndex]),
                ("status", String(series.status)),
            ],
            factory: factory)
    }
}
