import Glibc

/// A lock around a value for state the tests share across threads, on a pthread mutex.
///
/// Not `Synchronization.Mutex`: on Linux it waits in a futex inside the uninstrumented standard
/// library, so ThreadSanitizer (`make test-sanitize`) takes every access made under it for a
/// race. The modules under test swap in a pthread mutex for that build; test code always uses
/// this one.
///
/// `@unchecked Sendable`: `value` is only read or written between `pthread_mutex_lock` and
/// `pthread_mutex_unlock` of `mutex`, which the object owns from `init` to `deinit`.
package final class TestLock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// A lock guarding `initialValue`.
    package init(_ initialValue: Value) {
        mutex = .allocate(capacity: 1)
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        value = initialValue
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
