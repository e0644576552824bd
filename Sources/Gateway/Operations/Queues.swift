import Keyspace
import Logging

/// The operations on queues: push, pop (at once or waiting), describe, peek, delete.
enum Queues {
    /// The page size of a peek when none is given, and the largest one.
    static var peekSizes: (default: Int, max: Int) { (10, 1000) }

    /// Appends a message to a queue, or hands it to the oldest consumer waiting there; gives the
    /// queue's length afterwards.
    struct Push: Operation {
        /// The queue.
        let queue: Key
        /// The message.
        let message: Payload

        var requirement: Requirement { .on(.push, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Int> {
            switch try operations.store.push(message, to: queue) {
            case .stored(let length): .now(length)
            case .handed(let receiver): .now(operations.hand(message, from: queue, to: receiver))
            }
        }

        func isChange(_ output: Int) -> Bool { true }
    }

    /// Takes the oldest message of the first non-empty queue, in the order given; with a
    /// `wait`, waits that long for one, first come first served with every other waiting pop.
    /// Its output is `nil` when none came.
    struct Pop: Operation {
        /// The queues, in the order they are tried.
        let queues: [Key]
        /// How long to wait for a message when all are empty; zero answers at once.
        let wait: Duration

        var requirement: Requirement { .onEvery(.pop, queues) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<PoppedMessage?> {
            if case .popped(let popped) = try operations.store.pop(from: queues) {
                return .now(popped)
            }
            guard wait > .zero else { return .now(nil) }
            return .later(WaitingPop(queues: queues, wait: wait, operations: operations))
        }

        func isChange(_ output: PoppedMessage?) -> Bool { output != nil }

        func undeliverable<Store>(_ output: PoppedMessage?, in operations: Operations<Store>)
            -> (@Sendable () -> Void)?
        {
            output.map(operations.givingBack)
        }
    }

    /// A queue's length and the consumers waiting on it; an absent queue has length 0.
    struct Describe: Operation {
        /// The queue.
        let queue: Key

        var requirement: Requirement { .on(.read, queue) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<QueueInfo> {
            .now(try operations.store.queueInfo(queue))
        }

        func isChange(_ output: QueueInfo) -> Bool { false }
    }

    /// A queue's oldest messages, left in place, with its length.
    struct Peek: Operation {
        /// What a peek finds.
        struct Found: Sendable {
            /// The queue's state.
            let info: QueueInfo
            /// Its oldest messages, oldest first.
            let messages: [Payload]
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

    /// Deletes a queue and its messages; not found when absent. Waiting consumers keep waiting.
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

extension Operations {
    /// Delivers a message to a consumer the store claimed for it; if that one has left, to the
    /// next waiting one, or back to the head of its queue. Returns the queue's length afterwards.
    func hand(_ message: Payload, from queue: Key, to receiver: any MessageReceiver) -> Int {
        guard !receiver.deliver(message, from: queue) else { return 0 }
        return giveBack(message, to: queue)
    }

    /// What puts `popped` back when its consumer cannot take it.
    func givingBack(_ popped: PoppedMessage) -> @Sendable () -> Void {
        { giveBack(popped.message, to: popped.queue) }
    }

    /// Puts back a message that a consumer could not take; returns the queue's length then.
    @discardableResult
    func giveBack(_ message: Payload, to queue: Key) -> Int {
        do {
            switch try store.giveBack(message, to: queue) {
            case .stored(let length): return length
            case .handed(let receiver): return hand(message, from: queue, to: receiver)
            }
        } catch {
            // Only possible if the queue's key was emptied and then written as a string.
            logger.error(
                "A message could not be put back and is dropped",
                metadata: ["queue": "\(queue)", "error": "\(error)"])
            return 0
        }
    }
}
