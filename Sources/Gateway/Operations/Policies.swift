import Keyspace

/// The operations on a queue's policy: read it, set it, reset it.
enum Policies {
    /// A queue's policy: the standard one unless set.
    struct Read: Operation {
        /// The queue.
        let queue: Key

        var requirement: Requirement { .on(.read, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<QueuePolicy> {
            .now(try operations.store.policy(of: queue))
        }

        func isChange(_ output: QueuePolicy) -> Bool { false }
    }

    /// Sets a queue's policy, or resets it with `nil`; its output is the policy in force.
    struct Update: Operation {
        /// The queue.
        let queue: Key
        /// The new policy; `nil` for the standard one.
        let policy: QueuePolicy?

        /// `write` on the queue, and `push` on its dead-letter queue when it names one: the
        /// policy sends messages there, which a caller who may not push there must not arrange.
        var requirement: Requirement {
            guard let deadLetter = policy?.deadLetter else { return .on(.write, queue) }
            return .all([.on(.write, queue), .on(.push, deadLetter)])
        }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<QueuePolicy> {
            .now(try operations.store.setPolicy(policy, of: queue))
        }

        func isChange(_ output: QueuePolicy) -> Bool { true }
    }
}
