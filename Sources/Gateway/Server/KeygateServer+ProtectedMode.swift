import Glibc
import MicroHTTPD

extension KeygateServer.Configuration {
    /// Refuses to serve without access control on an address other than loopback, unless
    /// anonymous access is allowed: as Redis's protected mode, a server is not put on a network
    /// open to anyone by mistake.
    func checkProtectedMode() throws(StartupRefusal) {
        guard gateway.tokenFile == nil, !gateway.isAnonymousAllowed, !Self.isLoopback(http.host) else {
            return
        }
        throw StartupRefusal(
            "Keygate would listen on \(http.host) with no access control: anyone who reaches it could read, "
                + "change and delete every key. Give --auth-tokens FILE (see `keygate tokens add`), listen on "
                + "loopback (--host 127.0.0.1), or pass --allow-anonymous to serve without access control.")
    }

    /// Whether `host` is a loopback address (`127.0.0.0/8`, `::1`) or `localhost`.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        var ipv4 = in_addr()
        if inet_pton(AF_INET, host, &ipv4) == 1 {
            return UInt32(bigEndian: ipv4.s_addr) >> 24 == 127
        }
        var ipv6 = in6_addr()
        guard inet_pton(AF_INET6, host, &ipv6) == 1 else { return false }
        return withUnsafeBytes(of: ipv6) { bytes in bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1
        }
    }
}
