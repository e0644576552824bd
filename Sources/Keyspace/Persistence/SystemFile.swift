import Glibc

/// An open file of the data directory, closed when the last reference goes.
///
/// The system calls persistence needs (open, write, fsync, flock, rename) live here, each
/// checked where it is called and turned into a `PersistenceError` naming the call and path.
/// Being a class lets the syncer keep a file it is syncing open while a compaction moves the
/// writers to the next one.
final class SystemFile: Sendable {
    /// The file's path.
    let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Opens `path` for appending, creating it when `creating` (readable by its owner only
    /// when `isPrivate`); `exclusive` refuses an existing file.
    static func openForAppending(
        _ path: String, creating: Bool, exclusive: Bool = false, isPrivate: Bool = false
    )
        throws(PersistenceError)
        -> SystemFile
    {
        try opened(
            path, flags: O_WRONLY | O_APPEND, creating: creating, exclusive: exclusive,
            mode: isPrivate ? 0o600 : 0o644)
    }

    /// Opens `path` to read and write it in place (to map it), creating it when `creating`;
    /// `exclusive` refuses an existing file.
    static func openForUpdate(_ path: String, creating: Bool, exclusive: Bool = false)
        throws(PersistenceError)
        -> SystemFile
    {
        try opened(path, flags: O_RDWR, creating: creating, exclusive: exclusive)
    }

    /// Opens `path` with `access` flags, and `O_CREAT`/`O_EXCL` when asked.
    private static func opened(
        _ path: String, flags access: Int32, creating: Bool = false, exclusive: Bool = false,
        mode: mode_t = 0o644
    )
        throws(PersistenceError) -> SystemFile
    {
        var flags = access | O_CLOEXEC
        if creating {
            flags |= O_CREAT
        }
        if exclusive {
            flags |= O_EXCL
        }
        let descriptor = open(path, flags, mode)
        guard descriptor >= 0 else { throw .system(function: "open", path: path, errno: errno) }
        return SystemFile(path: path, descriptor: descriptor)
    }

    /// Makes the file at least `size` bytes long with its blocks allocated, so that writing
    /// within them cannot fail for want of space (`posix_fallocate`).
    func allocate(size: Int) throws(PersistenceError) {
        let result = posix_fallocate(descriptor, 0, off_t(size))
        guard result == 0 else { throw .system(function: "posix_fallocate", path: path, errno: result) }
    }

    /// Maps the file's first `length` bytes, shared: what is copied there is in the system's
    /// page cache at once, as after a `write(2)`. The caller unmaps it with `unmap(_:length:)`.
    func map(length: Int) throws(PersistenceError) -> UnsafeMutableRawPointer {
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0),
            base != UnsafeMutableRawPointer(bitPattern: -1)
        else { throw .system(function: "mmap", path: path, errno: errno) }
        return base
    }

    /// Unmaps what `map(length:)` mapped; the pages stay in the page cache, to be written.
    static func unmap(_ base: UnsafeMutableRawPointer, length: Int) {
        // Fails only for an address that is not a mapping: a bug.
        precondition(munmap(base, length) == 0, "munmap of a log that is not mapped")
    }

    /// Opens a directory, to sync the names in it.
    static func openDirectory(_ path: String) throws(PersistenceError) -> SystemFile {
        try opened(path, flags: O_RDONLY | O_DIRECTORY)
    }

    /// Opens (creating) `path` and takes an exclusive `flock` on it, held while the file is
    /// open; `.locked` when another process holds it.
    static func lock(_ path: String, directory: String) throws(PersistenceError) -> SystemFile {
        let file = try opened(path, flags: O_RDWR, creating: true)
        guard flock(file.descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            if error == EWOULDBLOCK {
                throw .locked(directory: directory)
            }
            throw .system(function: "flock", path: path, errno: error)
        }
        return file
    }

    /// Writes every byte, retrying short writes and interrupted calls.
    func write(_ bytes: [UInt8]) throws(PersistenceError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw .system(function: "write", path: path, errno: errno)
            }
            written += result
        }
    }

    /// Forces the file's data to disk (`fdatasync`).
    func sync() throws(PersistenceError) {
        while fdatasync(descriptor) != 0 {
            guard errno == EINTR else { throw .system(function: "fdatasync", path: path, errno: errno) }
        }
    }

    /// Forces the file's data and metadata, or a directory's names, to disk (`fsync`).
    func syncAll() throws(PersistenceError) {
        while fsync(descriptor) != 0 {
            guard errno == EINTR else { throw .system(function: "fsync", path: path, errno: errno) }
        }
    }

    /// Cuts the file to `size` bytes.
    func truncate(to size: Int) throws(PersistenceError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else {
            throw .system(function: "ftruncate", path: path, errno: errno)
        }
    }

    /// The file's size in bytes.
    func size() throws(PersistenceError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw .system(function: "fstat", path: path, errno: errno)
        }
        return Int(status.st_size)
    }

    /// Reads a whole file.
    static func read(_ path: String) throws(PersistenceError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(function: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw .system(function: "fstat", path: path, errno: errno)
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var filled = 0
        while filled < bytes.count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw .system(function: "read", path: path, errno: errno)
            }
            if result == 0 { break }
            filled += result
        }
        if filled < bytes.count {
            bytes.removeLast(bytes.count - filled)
        }
        return bytes
    }

    /// Cuts the file at `path` to `size` bytes.
    static func truncate(_ path: String, to size: Int) throws(PersistenceError) {
        guard Glibc.truncate(path, off_t(size)) == 0 else {
            throw .system(function: "truncate", path: path, errno: errno)
        }
    }

    /// Renames `source` to `destination`, atomically replacing it.
    static func rename(_ source: String, to destination: String) throws(PersistenceError) {
        guard Glibc.rename(source, destination) == 0 else {
            throw .system(function: "rename", path: source, errno: errno)
        }
    }

    /// Removes a file; a missing one is not an error.
    static func remove(_ path: String) throws(PersistenceError) {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .system(function: "unlink", path: path, errno: errno)
        }
    }

    /// Creates a directory and its parents when missing.
    static func makeDirectory(_ path: String) throws(PersistenceError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw .system(function: "mkdir", path: prefix, errno: errno)
            }
            prefix += "/"
        }
    }

    /// The names in a directory.
    static func names(in directory: String) throws(PersistenceError) -> [String] {
        guard let stream = opendir(directory) else {
            throw .system(function: "opendir", path: directory, errno: errno)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." {
                names.append(name)
            }
        }
        return names
    }

    /// The system's text for an error number.
    static func describe(errno: Int32) -> String {
        String(cString: strerror(errno))
    }
}
