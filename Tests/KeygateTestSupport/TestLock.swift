import Plumbing

/// A lock around a value for state the tests share across threads: Plumbing's `Mutex` (a
/// pthread mutex that ThreadSanitizer sees, in `make test-sanitize`), in a class, so that
/// escaping closures can share it.
package final class TestLock<Value>: Sendable {
    private let mutex: Mutex<Value>

    /// A lock guarding `initialValue`.
    package init(_ initialValue: sending Value) {
        mutex = Mutex(initialValue)
    }

    /// Runs `body` with the value, holding the lock.
    package func withLock<Result, Failure: Error>(
        _ body: (inout sending Value) throws(Failure) -> sending Result
    ) throws(Failure) -> sending Result {
        try mutex.withLock(body)
    }
}
