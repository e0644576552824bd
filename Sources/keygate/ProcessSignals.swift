import Glibc

/// SIGINT, SIGTERM and SIGHUP, taken by `sigwait` on the thread that waits for them.
///
/// The three signals are blocked in the thread that makes this, before any other thread
/// exists, so that every thread inherits the mask: each signal stays pending until `sigwait`
/// takes it, and none is delivered to a thread that would drop it. (libdispatch's signal sources
/// were used before; on Linux, a SIGTERM was now and then never handed to its source, and the
/// process did not stop.) A signal that comes before the wait, even before the server runs, is
/// taken then: it neither kills the process nor is lost.
struct ProcessSignals {
    private var signals = sigset_t()

    /// Blocks the signals; call it before any thread is started.
    init() {
        sigemptyset(&signals)
        for number in [SIGINT, SIGTERM, SIGHUP] {
            sigaddset(&signals, number)
        }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Waits for SIGINT or SIGTERM, calling `reload` for each SIGHUP meanwhile, on this thread.
    func waitForTermination(reloading reload: () -> Void) {
        var signals = signals
        while true {
            var number: Int32 = 0
            guard sigwait(&signals, &number) == 0 else { continue }
            if number == SIGHUP {
                reload()
            } else {
                return
            }
        }
    }
}
