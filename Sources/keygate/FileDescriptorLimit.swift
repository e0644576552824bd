import Glibc
import Logging

/// The process's open-file limit, which bounds how many connections can be open.
enum FileDescriptorLimit {
    /// Raises the soft limit to `needed`, up to the hard limit; warns when that is not enough.
    static func raise(toAtLeast needed: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            logger.warning("getrlimit(RLIMIT_NOFILE) failed", metadata: ["errno": "\(errno)"])
            return
        }
        let wanted = rlim_t(needed)
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            logger.warning("setrlimit(RLIMIT_NOFILE) failed", metadata: ["errno": "\(errno)"])
        }
        if limit.rlim_cur < wanted {
            logger.warning(
                "The open-file limit is below --max-connections; connections past it are refused",
                metadata: ["limit": "\(limit.rlim_cur)", "needed": "\(needed)"])
        }
    }
}
