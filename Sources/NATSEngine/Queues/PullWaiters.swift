import Keyspace
import Plumbing

/// The pops, receives and moves parked on this gateway. Each has a reply subject of its own, to
/// which a pull request on the consumer of every queue it waits on answers; the cluster serves
/// pull requests in the order they reach the queue's stream leader, which makes waiting first
/// come, first served across gateways. A pop that leaves (timed out, client gone, served by
/// another queue) ends its subscription, and the servers drop pull requests whose reply subject
/// nobody listens to any more, so that no message goes to a pop that is gone; one already on
/// its way is given back (`-NAK`) to the next request in line.
final class PullWaiters: Sendable {
    /// A parked pop.
    struct Waiter: Sendable {
        let receiver: any MessageReceiver
        /// A pop, a receive or a move.
        let consumption: Consumption
        let queues: [Key]
        /// For a receive, the policy of each queue, read when it parked.
        let policies: [Key: QueuePolicy]
        var subscription: NATSConnection.ShortSubscription?
        /// Whether its pull requests are out, so that it counts among the queues' consumers.
        var isCounted = false
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var byReceiver: [ObjectIdentifier: UInt64] = [:]
        var counts: [Key: Int] = [:]
        /// Waiters per queue whose requests are not out yet, for the limit.
        var starting: [Key: Int] = [:]
        var next: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Registers `receiver`, for `consumption`, on `queues`, unless one of them already has
    /// `limit` consumers parked here; returns its number, which its reply subject carries.
    func register(
        _ receiver: any MessageReceiver, for consumption: Consumption, on queues: [Key],
        policies: [Key: QueuePolicy], limit: Int
    ) throws(KeyspaceError) -> UInt64 {
        try state.withLock { (state) throws(KeyspaceError) -> UInt64 in
            for queue in queues
            where state.counts[queue, default: 0] + state.starting[queue, default: 0] >= limit {
                throw .tooManyWaiting(queue: queue, limit: limit)
            }
            state.next += 1
            state.waiters[state.next] = Waiter(
                receiver: receiver, consumption: consumption, queues: queues, policies: policies)
            state.byReceiver[ObjectIdentifier(receiver)] = state.next
            for queue in Set(queues) {
                state.starting[queue, default: 0] += 1
            }
            return state.next
        }
    }

    /// Keeps the subscription of waiter `number`; `false` when it already left (then the caller
    /// ends the subscription).
    func attach(_ subscription: NATSConnection.ShortSubscription, to number: UInt64) -> Bool {
        state.withLock { state in
            guard state.waiters[number] != nil else { return false }
            state.waiters[number]?.subscription = subscription
            return true
        }
    }

    /// Counts waiter `number` among its queues' consumers: its pull requests are out, so a
    /// push from now on reaches it.
    func activate(_ number: UInt64) {
        state.withLock { state in
            guard let waiter = state.waiters[number], !waiter.isCounted else { return }
            state.waiters[number]?.isCounted = true
            for queue in Set(waiter.queues) {
                Self.decrement(&state.starting, queue)
                state.counts[queue, default: 0] += 1
            }
        }
    }

    /// Whether waiter `number` still waits.
    func isWaiting(_ number: UInt64) -> Bool {
        state.withLock { $0.waiters[number] != nil }
    }

    /// Takes the waiter numbered `number` out (a message came for it); `nil` when it left.
    func take(_ number: UInt64) -> Waiter? {
        state.withLock { state in Self.remove(number, from: &state) }
    }

    /// Takes `receiver` out (it timed out or left); `nil` when it was not waiting.
    func cancel(_ receiver: any MessageReceiver) -> Waiter? {
        state.withLock { state in
            guard let number = state.byReceiver[ObjectIdentifier(receiver)] else { return nil }
            return Self.remove(number, from: &state)
        }
    }

    /// The pops parked here on `queue`.
    func count(on queue: Key) -> Int {
        state.withLock { $0.counts[queue, default: 0] }
    }

    /// The pops parked here.
    var total: Int {
        state.withLock { $0.waiters.count }
    }

    private static func remove(_ number: UInt64, from state: inout State) -> Waiter? {
        guard let waiter = state.waiters.removeValue(forKey: number) else { return nil }
        state.byReceiver[ObjectIdentifier(waiter.receiver)] = nil
        for queue in Set(waiter.queues) {
            if waiter.isCounted {
                decrement(&state.counts, queue)
            } else {
                decrement(&state.starting, queue)
            }
        }
        return waiter
    }

    private static func decrement(_ counts: inout [Key: Int], _ queue: Key) {
        counts[queue, default: 1] -= 1
        if counts[queue] == 0 {
            counts[queue] = nil
        }
    }
}
