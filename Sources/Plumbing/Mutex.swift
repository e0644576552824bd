#if KEYGATE_THREAD_SANITIZER
    import Glibc

    /// Only in the ThreadSanitizer build (`make test-sanitize`): a pthread mutex with the part of
    /// `Synchronization.Mutex`'s interface our modules use.
    ///
    /// On Linux, `Synchronization.Mutex` waits in a futex system call inside the uninstrumented
    /// standard library, so ThreadSanitizer never sees a contended lock pass from one thread to
    /// the next and reports every access made under it as a race. It does see pthread mutexes.
    /// Modules import `Mutex` from here and only `Atomic` from Synchronization
    /// (`import struct Synchronization.Atomic`), so this type stands in for the standard one
    /// everywhere, and the sanitizer checks how our state is shared, not the standard library's
    /// lock.
    ///
    /// `@unchecked Sendable`: `value` is only read or written between `pthread_mutex_lock` and
    /// `pthread_mutex_unlock` of `mutex`, which the object owns from `init` to `deinit`.
    public final class Mutex<Value: ~Copyable>: @unchecked Sendable {
        private let mutex: UnsafeMutablePointer<pthread_mutex_t>
        private var value: Value

        /// A mutex guarding `initialValue`.
        public init(_ initialValue: consuming sending Value) {
            mutex = .allocate(capacity: 1)
            precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
            value = initialValue
        }

        deinit {
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
        }

        /// Runs `body` with the value, holding the lock.
        public func withLock<Result: ~Copyable, Failure: Error>(
            _ body: (inout sending Value) throws(Failure) -> sending Result
        ) throws(Failure) -> sending Result {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body(&value)
        }

        /// Runs `body` with the value if the lock is free now; `nil` otherwise.
        public func withLockIfAvailable<Result: ~Copyable, Failure: Error>(
            _ body: (inout sending Value) throws(Failure) -> sending Result
        ) throws(Failure) -> sending Result? {
            guard pthread_mutex_trylock(mutex) == 0 else { return nil }
            defer { pthread_mutex_unlock(mutex) }
            return try body(&value)
        }
    }
#else
    public import Synchronization

    /// The lock every module of ours uses: `Synchronization.Mutex`, wrapped so that modules
    /// import it from here, but for the ThreadSanitizer build, which swaps in a pthread mutex
    /// that the sanitizer can see (the other branch of this file). Inlinable: it costs nothing
    /// over the standard one.
    ///
    /// `public` rather than `package`: Swift 6.3 does not inline a `package` inlinable function
    /// into another module (measured: every lock became a call with a metadata lookup).
    public struct Mutex<Value: ~Copyable>: ~Copyable, Sendable {
        @usableFromInline let base: Synchronization.Mutex<Value>

        /// A mutex guarding `initialValue`.
        @inlinable @inline(always)
        public init(_ initialValue: consuming sending Value) {
            base = Synchronization.Mutex(initialValue)
        }

        /// Runs `body` with the value, holding the lock.
        @inlinable @inline(always)
        public borrowing func withLock<Result: ~Copyable, Failure: Error>(
            _ body: (inout sending Value) throws(Failure) -> sending Result
        ) throws(Failure) -> sending Result {
            try base.withLock(body)
        }

        /// Runs `body` with the value if the lock is free now; `nil` otherwise.
        @inlinable @inline(always)
        public borrowing func withLockIfAvailable<Result: ~Copyable, Failure: Error>(
            _ body: (inout sending Value) throws(Failure) -> sending Result
        ) throws(Failure) -> sending Result? {
            try base.withLockIfAvailable(body)
        }
    }
#endif
