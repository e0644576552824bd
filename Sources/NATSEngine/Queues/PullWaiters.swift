import DequeModule
import Keyspace
import Plumbing

/// The pops parked on this gateway, each with a pull request on the consumer of every queue it
/// waits on; the cluster serves pull requests in the order they reach the queue's stream
/// leader, which makes waiting first come, first served across gateways.
///
/// A message a pull request brings says its queue, not which request it answers (JetStream
/// delivers it under its own subject), so it goes to the oldest pop parked here on that queue:
/// the one whose request was first in line, unless that pop left. A pull request cannot be
/// withdrawn: one whose pop left (timed out, client gone, served by another queue) stays until
/// it expires, and a message it brings goes to the next pop parked here, or back (`-NAK`) to
/// the next request in line.
final class PullWaiters: Sendable {
    /// A parked pop.
    struct Waiter: Sendable {
        let receiver: any MessageReceiver
        let queues: [Key]
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var byReceiver: [ObjectIdentifier: UInt64] = [:]
        var counts: [Key: Int] = [:]
        /// Per queue, the pops parked on it in the order they came (some may have left).
        var lines: [Key: Deque<UInt64>] = [:]
        var next: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Registers `receiver` on `queues`, unless one of them already has `limit` pops parked
    /// here; returns its number, which its pull requests' reply subjects carry.
    func register(_ receiver: any MessageReceiver, on queues: [Key], limit: Int) throws(KeyspaceError)
        -> UInt64
    {
        try state.withLock { (state) throws(KeyspaceError) -> UInt64 in
            for queue in queues where state.counts[queue, default: 0] >= limit {
                throw .tooManyWaiting(queue: queue, limit: limit)
            }
            state.next += 1
            state.waiters[state.next] = Waiter(receiver: receiver, queues: queues)
            state.byReceiver[ObjectIdentifier(receiver)] = state.next
            for queue in Set(queues) {
                state.counts[queue, default: 0] += 1
                state.lines[queue, default: []].append(state.next)
            }
            return state.next
        }
    }

    /// Takes out the oldest pop parked on `queue` (a message came for it); `nil` when none is.
    /// O(1), and O(pops that left) once.
    func takeOldest(on queue: Key) -> Waiter? {
        state.withLock { state in
            while let number = state.lines[queue]?.popFirst() {
                if let waiter = Self.remove(number, from: &state) {
                    return waiter
                }
            }
            state.lines[queue] = nil
            return nil
        }
    }

    /// Forgets `receiver` (it timed out or left).
    func cancel(_ receiver: any MessageReceiver) {
        state.withLock { state in
            if let number = state.byReceiver[ObjectIdentifier(receiver)] {
                _ = Self.remove(number, from: &state)
            }
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
            state.counts[queue, default: 1] -= 1
            if state.counts[queue] == 0 {
                state.counts[queue] = nil
                state.lines[queue] = nil
            }
        }
        return waiter
    }
}
