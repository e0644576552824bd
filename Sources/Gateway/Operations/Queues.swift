import Keyspace
import Logging

/// The operations on queues: push (at once or delayed), pop and move (at once or waiting),
/// describe, peek, delete. Leases are in `Leases`, policies in `Policies`.
enum Queues {
    /// The page size of a peek when none is given, and the largest one.
    static var peekSizes: (default: Int, max: Int) { (10, 1000) }

    /// Appends a message to a queue, or hands it to the oldest consumer waiting there; with a
    /// `delay`, stores it invisible until then. Gives the queue's length afterwards.
    struct Push: Operation {
        /// The queue.
        let queue: Key
        /// The message.
        let message: Payload
        /// How long the message stays invisible; `nil` for none.
        var delay: Duration?

        var requirement: Requirement { .on(.push, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Int> {
            .now(try operations.store.push(message, to: queue, delay: delay).length)
        }

        func isChange(_ output: Int) -> Bool { true }
    }

    /// Takes the oldest visible message of the first queue that has one, in the order given;
    /// with a `wait`, waits that long for one, first come first served with every other
    /// waiting consumer. Its output is `nil` when none came.
    struct Pop: Operation {
        /// The queues, in the order they are tried.
        let queues: [Key]
        /// How long to wait for a message when none is visible; zero answers at once.
        let wait: Duration

        var requirement: Requirement { .onEvery(.pop, queues) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<PoppedMessage?> {
            try operations.consume(.pop, from: queues, wait: wait, none: nil) { handover in
                guard case .popped(let popped) = handover else { throw Self.unexpected(handover) }
                return popped
            }
        }

        func isChange(_ output: PoppedMessage?) -> Bool { output != nil }

        func undeliverable<Store>(_ output: PoppedMessage?, in operations: Operations<Store>)
            -> (@Sendable () -> Void)?
        {
            output.map { operations.givingBack(.popped($0)) }
        }
    }

    /// Takes the oldest visible message of `source` and appends it to `destination` in one
    /// step (Redis's `BLMOVE`), waiting like a pop; its output is the message, `nil` when none
    /// came. A message that its client then cannot take stays in `destination`.
    struct Move: Operation {
        /// Where the message is taken from.
        let source: Key
        /// Where it goes.
        let destination: Key
        /// How long to wait for a message when none is visible; zero answers at once.
        let wait: Duration

        var requirement: Requirement { .all([.on(.pop, source), .on(.push, destination)]) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<PoppedMessage?> {
            try operations.consume(.move(to: destination), from: [source], wait: wait, none: nil) {
                handover in
                guard case .moved(let popped, _) = handover else { throw Pop.unexpected(handover) }
                return popped
            }
        }

        func isChange(_ output: PoppedMessage?) -> Bool { output != nil }
    }

    /// A queue's length, its messages by state and the consumers waiting on it; an absent
    /// queue has length 0.
    struct Describe: Operation {
        /// The queue.
        let queue: Key

        var requirement: Requirement { .on(.read, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<QueueInfo> {
            .now(try operations.store.queueInfo(queue))
        }

        func isChange(_ output: QueueInfo) -> Bool { false }
    }

    /// A queue's oldest visible messages, left in place, with its state.
    struct Peek: Operation {
        /// What a peek finds.
        struct Found: Sendable {
            /// The queue's state.
            let info: QueueInfo
            /// Its oldest visible messages, oldest first.
            let messages: [QueuedMessage]
        }

        /// The queue.
        let queue: Key
        /// The most messages returned.
        let limit: Int

        var requirement: Requirement { .on(.read, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Found> {
            let info = try operations.store.queueInfo(queue)
            return .now(Found(info: info, messages: try operations.store.peek(queue, limit: limit)))
        }

        func isChange(_ output: Found) -> Bool { false }
    }

    /// Deletes a queue and its messages, leased and delayed ones included; not found when
    /// absent. Waiting consumers keep waiting, and the queue's policy stays.
    struct Delete: Operation {
        /// The queue.
        let queue: Key

        var requirement: Requirement { .on(.write, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Void> {
            guard try operations.store.removeQueue(queue) else {
                throw GatewayError.notFound("No queue '\(queue)'.")
            }
            return .now(())
        }

        func isChange(_ output: Void) -> Bool { true }
    }
}

extension Queues.Pop {
    /// The error for a handover of another consumption than asked, which only a bug of the
    /// store could give.
    static func unexpected(_ handover: Handover) -> any Error {
        if case .failed(let error) = handover { return error }
        preconditionFailure("the store handed \(handover) to another consumption")
    }
}

extension Operations {
    /// Takes what `consumption` says from the first of `queues` with a visible message, at once,
    /// or waiting up to `wait` for one (`none` when none came); `output` renders what it got.
    func consume<Output: Sendable>(
        _ consumption: Consumption, from queues: [Key], wait: Duration, none: Output,
        output: @escaping @Sendable (Handover) throws -> Output
    ) throws -> Completion<Output> {
        if case .delivered(let handover) = try store.consume(
            consumption, from: queues, orWait: nil, waitingAtMost: 0)
        {
            return .now(try output(handover))
        }
        guard wait > .zero else { return .now(none) }
        return .later(
            WaitingConsumer(
                consumption, from: queues, wait: wait, operations: self, output: output, none: none))
    }

    /// What puts back `handover` when its consumer cannot take it.
    func givingBack(_ handover: Handover) -> @Sendable () -> Void {
        { giveBack(handover) }
    }

    /// Puts back what a consumer could not take.
    func giveBack(_ handover: Handover) {
        do {
            try store.giveBack(handover)
        } catch {
            // Only possible if the queue's key was emptied and then written as a string.
            logger.error(
                "A message could not be put back and is dropped",
                metadata: ["error": "\(error)"])
        }
    }
}
