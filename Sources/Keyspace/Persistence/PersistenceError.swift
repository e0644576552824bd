import Plumbing

/// Why the data directory could not be used, read or written.
package enum PersistenceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed on `path`.
    case system(function: String, path: String, errno: Int32)
    /// Another process holds the data directory's lock.
    case locked(directory: String)
    /// A file holds something other than valid records at `offset`, before its end.
    case damaged(file: String, offset: Int, reason: String)
    /// The files of the directory do not fit together (a missing log, say).
    case inconsistent(directory: String, reason: String)
    /// An earlier failure to write or sync the log; changes are refused until it is fixed.
    case unavailable(reason: String)
    /// The log was not synced within `timeout`, so a change waiting for it was not
    /// acknowledged.
    case notSynced(within: Duration)

    /// A sentence for an operator.
    package var description: String {
        switch self {
        case .system(let function, let path, let errno):
            "\(function)(\(path)) failed: \(SystemFile.describe(errno: errno))"
        case .locked(let directory):
            "the data directory \(directory) is in use by another Keygate (its LOCK file is held)"
        case .damaged(let file, let offset, let reason):
            "\(file) is damaged at byte \(offset) (\(reason)); start with --repair to drop "
                + "everything from there on, or restore the directory from a backup"
        case .inconsistent(let directory, let reason):
            "the data directory \(directory) is inconsistent: \(reason)"
        case .unavailable(let reason):
            "the log cannot be written: \(reason)"
        case .notSynced(let timeout):
            "the log was not synced within \(Self.seconds(timeout)) s"
        }
    }

    /// `duration` in whole seconds (`30`), or with the milliseconds left (`0.25`).
    private static func seconds(_ duration: Duration) -> String {
        let milliseconds = duration.wholeMilliseconds
        return milliseconds % 1000 == 0 ? String(milliseconds / 1000) : String(Double(milliseconds) / 1000)
    }
}
