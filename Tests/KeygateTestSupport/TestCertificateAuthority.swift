import Foundation
import Glibc

/// A certificate authority made at run time with Debian's `openssl`, in a temporary folder of
/// its own, that issues server certificates for `127.0.0.1` and `localhost`: tests of TLS commit
/// nothing secret. Clients trust it through `certificateFile`. Removes its folder when released.
package final class TestCertificateAuthority {
    /// A server certificate and its key, as PEM files.
    package struct Pair: Sendable {
        /// The certificate's file.
        package let certificateFile: String
        /// The private key's file.
        package let keyFile: String
    }

    /// Why making a certificate failed: the command and what it printed.
    package struct Failure: Error, CustomStringConvertible {
        /// The command and its output.
        package let description: String
    }

    /// The folder holding every file of this authority.
    package let directory: String
    /// The authority's own certificate, for clients to trust.
    package let certificateFile: String
    private let keyFile: String
    private var issued = 0

    /// A new authority named `name`, valid for a day.
    package init(name: String) throws {
        var template = Array("/tmp/keygate-test-ca-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failure(description: "mkdtemp failed: errno \(errno)")
        }
        directory = String(cString: made)
        certificateFile = directory + "/ca.pem"
        keyFile = directory + "/ca.key"
        try Self.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                keyFile, "-out", certificateFile, "-days", "1", "-subj", "/CN=\(name)",
            ])
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A new server certificate named `commonName`, signed by this authority.
    package func issue(_ commonName: String) throws -> Pair {
        issued += 1
        let base = "\(directory)/server-\(issued)"
        let extensions = base + ".ext"
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".write(
            toFile: extensions, atomically: true, encoding: .utf8)
        try Self.run(
            "/usr/bin/openssl",
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                base + ".key",
                "-out", base + ".csr", "-subj", "/CN=\(commonName)",
            ])
        try Self.run(
            "/usr/bin/openssl",
            [
                "x509", "-req", "-in", base + ".csr", "-CA", certificateFile, "-CAkey", keyFile,
                "-CAcreateserial",
                "-out", base + ".pem", "-days", "1", "-extfile", extensions,
            ])
        return Pair(certificateFile: base + ".pem", keyFile: base + ".key")
    }

    /// Runs `executable` with `arguments` to its end; its exit status and what it printed
    /// (standard output and error). Through `posix_spawn`: Foundation's `Process` leaks a weak
    /// reference's side table on Linux, which the leak checker of `make test-sanitize` reports.
    @discardableResult
    package static func run(_ executable: String, _ arguments: [String], allowingFailure: Bool = false) throws
        -> (status: Int32, output: String)
    {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw Failure(description: "pipe failed: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 1)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 2)
        posix_spawn_file_actions_addclose(&actions, ends[0])
        posix_spawn_file_actions_addclose(&actions, ends[1])
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer {
            for argument in argv { free(argument) }
        }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, nil, argv, environ)
        close(ends[1])
        defer { close(ends[0]) }
        guard spawned == 0 else {
            throw Failure(description: "posix_spawn \(executable) failed: error \(spawned)")
        }
        var printed: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(ends[0], &chunk, chunk.count)
            if count > 0 {
                printed += chunk.prefix(count)
            } else if count == 0 || errno != EINTR {
                break
            }
        }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS, which are macros.
        let exitStatus = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let text = String(decoding: printed, as: UTF8.self)
        guard allowingFailure || exitStatus == 0 else {
            throw Failure(
                description:
                    "\(executable) \(arguments.joined(separator: " ")) exited with \(exitStatus): \(text)")
        }
        return (exitStatus, text)
    }
}
