import Keyspace

/// The operations of leased delivery: receive messages on a lease, acknowledge them, extend
/// or release their lease.
enum Leases {
    /// Leases up to `limit` of the oldest visible messages of a queue for `visibility` (`nil`:
    /// the queue's policy); with a `wait`, waits that long for one, in the same line as pops.
    /// Its output is empty when none came.
    struct Receive: Operation {
        /// The queue.
        let queue: Key
        /// How long the messages stay invisible; `nil` for the queue's policy.
        let visibility: Duration?
        /// The most messages taken.
        let limit: Int
        /// How long to wait for a message when none is visible; zero answers at once.
        let wait: Duration

        var requirement: Requirement { .on(.pop, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<[LeasedMessage]> {
            let consumption = Consumption.receive(visibility: visibility, limit: limit)
            return try operations.consume(consumption, from: [queue], wait: wait, none: []) { handover in
                guard case .received(_, let messages) = handover else {
                    throw Queues.Pop.unexpected(handover)
                }
                return messages
            }
        }

        func isChange(_ output: [LeasedMessage]) -> Bool { !output.isEmpty }

        func undeliverable<Store>(_ output: [LeasedMessage], in operations: Operations<Store>)
            -> (@Sendable () -> Void)?
        {
            output.isEmpty ? nil : operations.givingBack(.received(queue: queue, messages: output))
        }
    }

    /// Acknowledges leased messages by their receipts: each whose lease is current is gone for
    /// good. One status per receipt, in order.
    struct Acknowledge: Operation {
        /// The queue.
        let queue: Key
        /// The receipts.
        let receipts: [String]

        var requirement: Requirement { .on(.pop, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<[LeaseStatus]> {
            .now(try operations.store.acknowledge(receipts, in: queue))
        }

        func isChange(_ output: [LeaseStatus]) -> Bool { true }
    }

    /// Ends a lease `visibility` from now, or at once with zero (the message is visible again);
    /// its output is when the message becomes visible.
    struct ChangeVisibility: Operation {
        /// The queue.
        let queue: Key
        /// The lease's receipt.
        let receipt: String
        /// How long the message stays invisible from now.
        let visibility: Duration

        var requirement: Requirement { .on(.pop, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Timestamp> {
            .now(try operations.store.changeVisibility(of: receipt, in: queue, to: visibility))
        }

        func isChange(_ output: Timestamp) -> Bool { true }
    }
}
