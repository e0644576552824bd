import Keyspace
import Logging
import Plumbing

/// Where every operation meets the store, whatever transport it came by: the one place where
/// rules that concern every operation apply. Access: the caller must be granted what the
/// operation needs, and sees only what it may. Durability: a change is answered once it is as
/// durable as the store promises.
///
/// Generic over the store, so that operations know only `KeyspaceStore`; specialized, it
/// costs nothing at run time.
struct Operations<Store: KeyspaceStore>: Sendable {
    /// The keyspace.
    let store: Store
    /// Where waiting operations keep their deadlines.
    let deadlines: DeadlineQueue
    /// What clients may ask for.
    let limits: OperationLimits
    /// Where failures no client can be told of are logged.
    let logger: Logger
    /// Where refusals are counted; `nil` when metrics are off.
    let metrics: GatewayMetrics?

    /// Where operations run when the store's calls wait on the network; `nil`: on the thread
    /// that asks.
    let pool: BlockingPool?

    /// How long an operation handed to the pool may take, besides its own wait (a pop's).
    static var offloadedTimeout: Duration { .seconds(30) }

    /// Executes `operation` for `caller`: its output now, or once it is durable or has come
    /// (or, with a pool, once a thread of the pool has run it). Throws a `KeyspaceError` or
    /// `GatewayError` (a 403 when `caller` is not granted what it needs), and then nothing
    /// changed.
    func perform<Requested: Operation>(_ operation: Requested, by caller: Caller) throws -> Completion<
        Requested.Output
    > {
        if caller.token != nil {
            try authorize(operation.requirement, for: caller.permissions)
        }
        guard let pool else { return try execute(operation, by: caller) }
        return .later(
            OffloadedOutput(timeout: Self.offloadedTimeout + limits.maxWait, pool: pool) { [self] in
                let completion = try execute(operation, by: caller)
                guard case .now(let output) = completion else { return (completion, nil) }
                return (completion, operation.undeliverable(output, in: self))
            })
    }

    /// Executes an operation that never waits, such as one that changes nothing, on this
    /// thread; its output.
    func performAtOnce<Requested: Operation>(_ operation: Requested, by caller: Caller) throws
        -> Requested.Output
    {
        if caller.token != nil {
            try authorize(operation.requirement, for: caller.permissions)
        }
        guard case .now(let output) = try execute(operation, by: caller) else {
            preconditionFailure("\(Requested.self) waited, but it never does")
        }
        return output
    }

    /// These operations, run on the thread that asks even when the store's calls wait: for a
    /// transport that must answer a client's requests in the order they came (a WebSocket).
    var onCallingThread: Operations {
        Operations(
            store: store, deadlines: deadlines, limits: limits, logger: logger, metrics: metrics, pool: nil)
    }

    /// Executes an authorized operation on this thread; its output as `caller` may see it, now
    /// or once durable.
    private func execute<Requested: Operation>(_ operation: Requested, by caller: Caller) throws
        -> Completion<Requested.Output>
    {
        var completion = try operation.execute(in: self)
        // Without a token, access control is off: nothing to hide.
        if caller.token != nil, case .now(let output) = completion {
            completion = .now(operation.restrict(output, to: caller.permissions))
        }
        guard case .now(let output) = completion, operation.isChange(output),
            let ticket = store.pendingDurability()
        else { return completion }
        return .later(
            DurableOutput(
                output, ticket: ticket, undeliverable: operation.undeliverable(output, in: self),
                operations: self))
    }

    /// Refuses, with a 403, a caller not granted what `requirement` names.
    func authorize(_ requirement: Requirement, for permissions: Permissions) throws(GatewayError) {
        switch requirement {
        case .on(let action, let key):
            guard permissions.allows(action, on: key) else {
                metrics?.countAuthenticationFailure(.forbidden)
                throw .forbidden(action, key: key)
            }
        case .onEvery(let action, let keys):
            for key in keys where !permissions.allows(action, on: key) {
                metrics?.countAuthenticationFailure(.forbidden)
                throw .forbidden(action, key: key)
            }
        case .some(let action):
            guard permissions.allowsSome(action) else {
                metrics?.countAuthenticationFailure(.forbidden)
                throw .forbidden(action, key: nil)
            }
        case .all(let requirements):
            for requirement in requirements {
                try authorize(requirement, for: permissions)
            }
        }
    }
}
