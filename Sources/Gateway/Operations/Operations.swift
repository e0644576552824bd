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

    /// Executes `operation` for `caller`: its output now, or once it is durable or has come.
    /// Throws a `KeyspaceError` or `GatewayError` (a 403 when `caller` is not granted what it
    /// needs), and then nothing changed.
    func perform<Requested: Operation>(_ operation: Requested, by caller: Caller) throws -> Completion<
        Requested.Output
    > {
        var completion: Completion<Requested.Output>
        if caller.token == nil {
            // Access control is off: nothing to check, nothing to hide.
            completion = try operation.execute(in: self)
        } else {
            let permissions = caller.permissions
            try authorize(operation.requirement, for: permissions)
            completion = try operation.execute(in: self)
            if case .now(let output) = completion {
                completion = .now(operation.restrict(output, to: permissions))
            }
        }
        guard case .now(let output) = completion, operation.isChange(output),
            let ticket = store.pendingDurability()
        else { return completion }
        return .later(
            DurableOutput(
                output, ticket: ticket, undeliverable: operation.undeliverable(output, in: self),
                operations: self))
    }

    /// Executes an operation that never waits, such as one that changes nothing; its output.
    func performAtOnce<Requested: Operation>(_ operation: Requested, by caller: Caller) throws
        -> Requested.Output
    {
        guard case .now(let output) = try perform(operation, by: caller) else {
            preconditionFailure("\(Requested.self) waited, but it never does")
        }
        return output
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
