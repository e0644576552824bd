import Keyspace

/// One thing a client asks of the keyspace, whatever transport it came by.
///
/// REST and the WebSocket protocol parse their requests into operations; `Operations` executes
/// each one, in one place; each transport renders the `Output`. Adding an operation means one
/// type here and a parser and a renderer on each transport.
protocol Operation: Sendable {
    /// What a successful execution gives.
    associatedtype Output: Sendable

    /// What the caller must be granted; checked before the operation runs.
    var requirement: Requirement { get }

    /// The output as a caller with `permissions` may see it.
    func restrict(_ output: Output, to permissions: Permissions) -> Output

    /// Runs the operation once: its output now, or later (a pop that waits for a message).
    /// Throws a `KeyspaceError` or `GatewayError`, and then nothing changed.
    func execute<Store>(in operations: Operations<Store>) throws -> Completion<Output>

    /// Whether `output` reports a change to the keyspace: its answer then waits until the
    /// change is as durable as the store promises.
    func isChange(_ output: Output) -> Bool

    /// What to do with `output` if it cannot be delivered (its client left, or the change
    /// could not be made durable): a popped message goes back to its queue. `nil`: nothing.
    func undeliverable<Store>(_ output: Output, in operations: Operations<Store>) -> (@Sendable () -> Void)?
}

extension Operation {
    /// The output as a caller with `permissions` may see it: as it is, but for operations
    /// whose output spans keys (a listing, a subscription), which override this.
    func restrict(_ output: Output, to permissions: Permissions) -> Output {
        output
    }

    /// Nothing to undo: only what leaves the keyspace with its answer needs undoing.
    func undeliverable<Store>(_ output: Output, in operations: Operations<Store>) -> (@Sendable () -> Void)? {
        nil
    }
}
