import CMicroHTTPD
import Glibc

/// A listening address resolved from a host and port, as the server's acceptor binds it.
struct SocketAddress {
    private var storage = sockaddr_storage()
    /// Whether the address is IPv6, which the socket's family and libmicrohttpd's flag follow.
    private(set) var isIPv6 = false

    /// Resolves a numeric address or a host name (`getaddrinfo`); the first answer wins.
    init(host: String, port: Int) throws(HTTPServerError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        defer { freeaddrinfo(results) }
        guard status == 0, let first = results, let address = first.pointee.ai_addr else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw HTTPServerError(
                function: "getaddrinfo", code: 0,
                detail: "Cannot resolve the listening address '\(host)': \(reason)")
        }
        withUnsafeMutableBytes(of: &storage) { destination in
            destination.copyMemory(
                from: UnsafeRawBufferPointer(start: address, count: Int(first.pointee.ai_addrlen)))
        }
        isIPv6 = first.pointee.ai_family == AF_INET6
    }

    /// The size of the address's `sockaddr`, for `bind`.
    var length: socklen_t {
        socklen_t(isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    }

    /// The port of an IPv4 or IPv6 address; `nil` for another family.
    static func port(of address: sockaddr_storage) -> Int? {
        let family = Int32(address.ss_family)
        return withUnsafeBytes(of: address) { bytes -> Int? in
            switch family {
            case AF_INET: Int(UInt16(bigEndian: bytes.load(as: sockaddr_in.self).sin_port))
            case AF_INET6: Int(UInt16(bigEndian: bytes.load(as: sockaddr_in6.self).sin6_port))
            default: nil
            }
        }
    }

    /// Calls `body` with the address as a `sockaddr` pointer, valid during the call.
    func withSocketAddress<Result>(_ body: (UnsafePointer<sockaddr>) -> Result) -> Result {
        withUnsafeBytes(of: storage) { bytes in
            body(bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self))
        }
    }
}
