import Keyspace
import Logging
import Plumbing

/// Where every operation meets the store, whatever transport it came by: the one place where
/// rules that concern every operation apply. Today that is durability: a change is answered
/// once it is as durable as the store promises.
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

    /// Executes `operation`: its output now, or once it is durable or has come. Throws a
    /// `KeyspaceError` or `GatewayError`, and then nothing changed.
    func perform<Requested: Operation>(_ operation: Requested) throws -> Completion<Requested.Output> {
        let completion = try operation.execute(in: self)
        guard case .now(let output) = completion, operation.isChange(output),
            let ticket = store.pendingDurability()
        else { return completion }
        return .later(
            DurableOutput(
                output, ticket: ticket, undeliverable: operation.undeliverable(output, in: self),
                operations: self))
    }

    /// Executes an operation that never waits, such as one that changes nothing; its output.
    func performAtOnce<Requested: Operation>(_ operation: Requested) throws -> Requested.Output {
        guard case .now(let output) = try perform(operation) else {
            preconditionFailure("\(Requested.self) waited, but it never does")
        }
        return output
    }
}
