import CMicroHTTPD
import Glibc

/// A libmicrohttpd connection, as a value other threads may hold.
///
/// `@unchecked Sendable` because it is only an address. The request accessors are used on the
/// connection's own thread while libmicrohttpd calls us; from any other thread the only call
/// made through it is `resume()`, which libmicrohttpd documents as thread-safe, and which
/// `ParkedRequest` makes exactly once while the connection is suspended and therefore alive.
struct ConnectionHandle: @unchecked Sendable {
    /// The `struct MHD_Connection *`.
    let pointer: OpaquePointer

    /// Lets libmicrohttpd process a suspended connection again (`MHD_resume_connection`).
    func resume() {
        MHD_resume_connection(pointer)
    }

    /// Suspends the connection (`MHD_suspend_connection`); only from the access handler.
    func suspend() {
        MHD_suspend_connection(pointer)
    }

    /// The first value of a request header, matched case-insensitively.
    ///
    /// Header names are always literals, so a `StaticString` passes its bytes to C with no copy.
    func header(named name: StaticString) -> String? {
        var value: UnsafePointer<CChar>?
        var length = 0
        let found = name.withUTF8Buffer { name in
            name.withMemoryRebound(to: CChar.self) { name in
                MHD_lookup_connection_value_n(
                    pointer, .HEADER_KIND, name.baseAddress, name.count, &value, &length)
            }
        }
        guard found == .YES, let value else { return nil }
        return value.withMemoryRebound(to: UInt8.self, capacity: length) { value in
            String(decoding: UnsafeBufferPointer(start: value, count: length), as: UTF8.self)
        }
    }

    /// The client's IP address as text (`203.0.113.7`, `2001:db8::1`), or `-` when unknown.
    var clientAddress: String {
        guard let address = cmhd_connection_client_address(pointer) else { return "-" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written: UnsafePointer<CChar>? =
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    withUnsafePointer(to: address.pointee.sin_addr) {
                        inet_ntop(AF_INET, $0, &text, socklen_t(text.count))
                    }
                }
            case AF_INET6:
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    withUnsafePointer(to: address.pointee.sin6_addr) {
                        inet_ntop(AF_INET6, $0, &text, socklen_t(text.count))
                    }
                }
            default: nil
            }
        guard written != nil else { return "-" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The size of the request's line and header fields in bytes; 0 when libmicrohttpd cannot
    /// tell.
    var headerSize: Int {
        cmhd_connection_header_size(pointer)
    }

    /// The socket file descriptor, or -1 when libmicrohttpd cannot tell.
    var socket: Int32 {
        cmhd_connection_socket(pointer)
    }

    /// Whether the connection speaks TLS, so that its socket carries records, not our bytes.
    var isEncrypted: Bool {
        cmhd_connection_is_encrypted(pointer)
    }
}
