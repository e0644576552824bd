import Foundation

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

    /// Runs `executable` with `arguments` to its end; its status and what it printed.
    @discardableResult
    package static func run(_ executable: String, _ arguments: [String], allowingFailure: Bool = false) throws
        -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: printed, as: UTF8.self)
        guard allowingFailure || process.terminationStatus == 0 else {
            throw Failure(
                description: "\(executable) \(arguments.joined(separator: " ")) exited with "
                    + "\(process.terminationStatus): \(text)")
        }
        return (process.terminationStatus, text)
    }
}
