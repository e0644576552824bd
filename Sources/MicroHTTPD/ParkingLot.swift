import Dispatch
import Synchronization

/// Every parked request of a server, with their deadlines, so that shutdown can answer them.
///
/// Parking and unparking take one short lock; the hot path of requests answered at once never
/// touches the lot.
final class ParkingLot: Sendable {
    private struct State {
        var isClosed = false
        var parked: [ObjectIdentifier: ParkedRequest] = [:]
    }

    private let state = Mutex(State())
    /// Deadline timers fire here; each handler only claims and delivers.
    private let deadlines = DispatchQueue(label: "keygate.http.parking-deadlines")
    /// Connections suspended and not yet back on their thread; shutdown waits for zero.
    let suspendedCount = Atomic<Int>(0)

    /// Parks a request whose connection the caller has just suspended.
    ///
    /// When the lot is already closed the request is answered with `closedResponse` at once.
    func park(
        _ parked: ParkedRequest, parking: Parking, closedResponse: @autoclosure () -> HTTPResponse
    ) {
        let isOpen = state.withLock { state in
            guard !state.isClosed else { return false }
            state.parked[ObjectIdentifier(parked)] = parked
            return true
        }
        guard isOpen else {
            parked.respond(closedResponse())
            return
        }
        let onTimeout = parking.onTimeout
        let timer = DeadlineTimer(timeout: parking.timeout, queue: deadlines) { [weak parked] in
            guard let parked, parked.claim() else { return }
            parked.deliver(onTimeout())
        }
        parked.arm(timer)
        parking.onPark(parked)
    }

    /// Forgets a request that has been claimed.
    func remove(_ parked: ParkedRequest) {
        state.withLock { _ = $0.parked.removeValue(forKey: ObjectIdentifier(parked)) }
    }

    /// Refuses new requests and answers every waiting one with `response`.
    func close(answeringWith response: HTTPResponse) {
        let waiting = state.withLock { state in
            state.isClosed = true
            return Array(state.parked.values)
        }
        for parked in waiting {
            parked.respond(response)
        }
    }
}
