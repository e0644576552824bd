import Foundation
import Glibc

/// A blocking HTTP/1.1 client over one TCP connection, for tests that need exact control of
/// the bytes sent: raw paths, pipelining, half requests, chunked bodies.
///
/// Every read has a timeout, so a server that never answers fails the test instead of hanging.
package final class TestHTTPClient {
    /// Why a test client call failed.
    package struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        package let description: String

        /// Creates a failure.
        package init(description: String) {
            self.description = description
        }
    }

    private let socket: Int32
    /// Bytes read and not consumed yet; a slice, so that consuming from the front is O(1).
    private var buffer: ArraySlice<UInt8> = []

    /// Connects to `127.0.0.1:port` from `source`, another loopback address to act as another
    /// client; reads time out after `timeout` (10 s, stretched by `TestTiming.scale`).
    ///
    /// `receiveBuffer` sets the socket's receive buffer before connecting, for a client that
    /// lets the server's sends pile up. With it, `segmentSize` asks the server for TCP segments
    /// of at most that many bytes, as on a real network (TCP_MAXSEG): loopback's are 64 KiB,
    /// and a window smaller than that never fits a whole one, so the sender waits for its
    /// persist timer, which backs off to seconds.
    package init(
        port: Int, from source: String = "127.0.0.1", receiveBuffer: Int32? = nil, segmentSize: Int32? = nil,
        timeout: Duration = TestTiming.scaled(.seconds(10))
    ) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket() failed: \(errno)") }
        if var receiveBuffer {
            setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        }
        if var segmentSize {
            setsockopt(
                socket, Int32(IPPROTO_TCP), TCP_MAXSEG, &segmentSize, socklen_t(MemoryLayout<Int32>.size))
        }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let bound = withUnsafePointer(to: &local) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            close(socket)
            throw Failure(description: "bind to \(source) failed: errno \(errno)")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else {
            close(socket)
            throw Failure(description: "connect to port \(port) failed: errno \(errno)")
        }
        setReadTimeout(timeout)
        var noDelay: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(socket)
    }

    /// Makes closing the connection reset it (RST) instead of ending it cleanly, as a client
    /// that crashes does.
    package func resetOnClose() {
        var immediately = linger(l_onoff: 1, l_linger: 0)
        setsockopt(socket, SOL_SOCKET, SO_LINGER, &immediately, socklen_t(MemoryLayout<linger>.size))
    }

    /// Reads at least `count` bytes of whatever the server sends, without parsing them.
    package func readRaw(atLeast count: Int) throws {
        try fill(atLeast: count)
    }

    /// Reads exactly `count` bytes of whatever the server sends, and consumes them.
    package func read(exactly count: Int) throws -> [UInt8] {
        try fill(atLeast: count)
        defer { buffer.removeFirst(count) }
        return Array(buffer.prefix(count))
    }

    /// Reads everything the server sends until it closes the connection.
    package func readToEnd() throws -> [UInt8] {
        try readUntilClosed()
    }

    /// Shuts the client's sending side, as a client does after its last message.
    package func shutDownWrites() {
        _ = shutdown(socket, Int32(SHUT_WR))
    }

    /// Shrinks the socket's receive buffer, so that a client that does not read makes the
    /// server's writes back up soon.
    package func setReceiveBuffer(bytes: Int32) {
        var size = bytes
        setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// How long a read waits for the server before it fails.
    package func setReadTimeout(_ timeout: Duration) {
        var interval = timeval(
            tv_sec: Int(timeout.components.seconds),
            tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends raw bytes.
    package func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            sent += count
        }
    }

    /// Sends raw text.
    package func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// Sends one request and reads its response.
    package func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) throws -> TestResponse {
        try send(Self.encode(method, target, headers: headers, body: body))
        return try readResponse(method: method)
    }

    /// Sends one request with a text body and reads its response.
    package func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], text: String
    ) throws -> TestResponse {
        try request(method, target, headers: headers, body: Array(text.utf8))
    }

    /// The bytes of a request with `Host` (unless `headers` has one) and, when there is a body,
    /// `Content-Length`.
    package static func encode(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\n"
        if !headers.contains(where: { $0.0.lowercased() == "host" }) {
            head += "Host: 127.0.0.1\r\n"
        }
        for (name, value) in headers {
            head += "\(name): \(value)\r\n"
        }
        if let body {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + (body ?? [])
    }

    /// Reads one response; `method` tells whether a body follows (`HEAD` has none).
    package func readResponse(method: String = "GET") throws -> TestResponse {
        let headEnd = try readUntil(Array("\r\n\r\n".utf8))
        let head = String(decoding: buffer.prefix(headEnd), as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw Failure(description: "malformed status line in: \(head)")
        }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(
                (
                    String(line[..<colon]),
                    line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                ))
        }
        var response = TestResponse(status: status, headers: headers, body: [])
        let hasNoBody = method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status)
        if hasNoBody {
            return response
        }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            response.body = try readChunkedBody()
        } else if let length = response.header("Content-Length").flatMap(Int.init) {
            try fill(atLeast: length)
            response.body = Array(buffer.prefix(length))
            buffer.removeFirst(length)
        } else {
            response.body = try readUntilClosed()
        }
        return response
    }

    /// Reads the status line and headers of a streamed response, leaving its body unread.
    package func readStreamHead() throws -> TestResponse {
        let headEnd = try readUntil(Array("\r\n\r\n".utf8))
        let head = String(decoding: buffer.prefix(headEnd), as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw Failure(description: "malformed status line in: \(head)")
        }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (
                String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            )
        }
        return TestResponse(status: status, headers: headers, body: [])
    }

    /// Reads the next chunk of a chunked body; `nil` at the last (empty) chunk.
    package func readChunk() throws -> [UInt8]? {
        let lineEnd = try readUntil(Array("\r\n".utf8))
        let sizeText = String(decoding: buffer.prefix(lineEnd), as: UTF8.self)
        buffer.removeFirst(lineEnd + 2)
        guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else {
            throw Failure(description: "bad chunk size '\(sizeText)'")
        }
        try fill(atLeast: size + 2)
        let chunk = Array(buffer.prefix(size))
        buffer.removeFirst(size + 2)
        return size == 0 ? nil : chunk
    }

    /// Whether the server sent something or closed within `timeout`, leaving it unread.
    package func isReadable(within timeout: Duration) -> Bool {
        guard buffer.isEmpty else { return true }
        let (seconds, attoseconds) = timeout.components
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, Int32(seconds * 1000 + attoseconds / 1_000_000_000_000_000)) > 0
    }

    /// Whether the server closed the connection: the next read returns end of file.
    package func isClosedByServer() -> Bool {
        guard buffer.isEmpty else { return false }
        var byte: UInt8 = 0
        return recv(socket, &byte, 1, 0) == 0
    }

    private func readChunkedBody() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let lineEnd = try readUntil(Array("\r\n".utf8))
            let sizeText = String(decoding: buffer.prefix(lineEnd), as: UTF8.self)
            buffer.removeFirst(lineEnd + 2)
            guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else {
                throw Failure(description: "bad chunk size '\(sizeText)'")
            }
            try fill(atLeast: size + 2)
            body += buffer.prefix(size)
            buffer.removeFirst(size + 2)
            if size == 0 { return body }
        }
    }

    private func readUntil(_ delimiter: [UInt8]) throws -> Int {
        var searchFrom = 0
        while true {
            if buffer.count >= delimiter.count {
                for start in searchFrom...(buffer.count - delimiter.count)
                where buffer.dropFirst(start).prefix(delimiter.count).elementsEqual(delimiter) {
                    return start
                }
                searchFrom = buffer.count - delimiter.count + 1
            }
            guard try readMore() else { throw Failure(description: "connection closed mid-response") }
        }
    }

    private func fill(atLeast count: Int) throws {
        while buffer.count < count {
            guard try readMore() else { throw Failure(description: "connection closed mid-body") }
        }
    }

    private func readUntilClosed() throws -> [UInt8] {
        while try readMore() {}
        defer { buffer.removeAll() }
        return Array(buffer)
    }

    /// Reads what is available; `false` at end of file.
    private func readMore() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = recv(socket, &chunk, chunk.count, 0)
        if count < 0 {
            throw Failure(description: "read failed or timed out: errno \(errno)")
        }
        buffer += chunk[..<count]
        return count > 0
    }
}
