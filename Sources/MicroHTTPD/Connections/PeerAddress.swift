import CMicroHTTPD
import Glibc

/// A client's IP address, without its port: what the per-address connection limit counts by.
///
/// An IPv4 address reached over IPv6 (`::ffff:a.b.c.d`) is the same peer as over IPv4.
struct PeerAddress: Hashable, Sendable {
    /// The address: 4 bytes for IPv4, 16 for IPv6, none when the family is unknown.
    private let bytes: [UInt8]

    /// The address of `address`, a `sockaddr_in` or `sockaddr_in6` as libmicrohttpd reports it.
    init(_ address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                withUnsafeBytes(of: address.pointee.sin_addr) { Array($0) }
            }
        case AF_INET6:
            let all = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                withUnsafeBytes(of: address.pointee.sin6_addr) { Array($0) }
            }
            let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
            bytes = all.starts(with: mappedPrefix) ? Array(all.suffix(4)) : all
        default:
            bytes = []
        }
    }
}
