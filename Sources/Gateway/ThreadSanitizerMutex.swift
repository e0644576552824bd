// Identical in Keyspace, MicroHTTPD and Gateway (those modules share no code of ours);
// .ci/test-sanitize checks that the copies agree.
#if KEYGATE_THREAD_SANITIZER
    import Glibc

    /// Only in the ThreadSanitizer build (`make test-sanitize`): a pthread mutex in place of
    /// `Synchronization.Mutex`, with the part of its interface the module uses.
    ///
    /// On Linux, `Synchronization.Mutex` waits in a futex system call inside the uninstrumented
    /// standard library, so ThreadSanitizer never sees a contended lock pass from one thread to
    /// the next and reports every access made under it as a race. It does see pthread mutexes.
    /// This type shadows the standard one in this module, so that the sanitizer checks how the
    /// module's state is shared, not the standard library's lock.
    ///
    /// `@unchecked Sendable`: `value` is only read or written between `pthread_mutex_lock` and
    /// `pthread_mutex_unlock` of `mutex`, which the object owns from `init` to `deinit`.
    final class Mutex<Value: ~Copyable>: @unchecked Sendable {
        private let mutex: UnsafeMutablePointer<pthread_mutex_t>
        private var value: Value

        /// A mutex guarding `initialValue`.
        init(_ initialValue: consuming sending Value) {
            mutex = .allocate(capacity: 1)
            precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
            value = initialValue
        }

        deinit {
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
        }

        /// Runs `body` with the value, holding the lock.
        func withLock<Result: ~Copyable, Failure: Error>(
            _ body: (inout sending Value) throws(Failure) -> sending Result
        ) throws(Failure) -> sending Result {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body(&value)
        }

        /// Runs `body` with the value if the lock is free now; `nil` otherwise.
        func withLockIfAvailable<Result: ~Copyable, Failure: Error>(
            _ body: (inout sending Value) throws(Failure) -> sending Result
        ) throws(Failure) -> sending Result? {
            guard pthread_mutex_trylock(mutex) == 0 else { return nil }
            defer { pthread_mutex_unlock(mutex) }
            return try body(&value)
        }
    }
#endif
