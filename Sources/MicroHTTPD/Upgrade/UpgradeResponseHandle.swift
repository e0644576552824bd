import CMicroHTTPD

/// libmicrohttpd's handle of an upgraded connection (`struct MHD_UpgradeResponseHandle *`).
///
/// `@unchecked Sendable` because it is only an address, and the one call made through it,
/// `close()`, is made exactly once: by the upgrade loop when it finishes the socket, or by the
/// upgrade callback when there is no loop to take the socket.
struct UpgradeResponseHandle: @unchecked Sendable {
    /// The `struct MHD_UpgradeResponseHandle *`.
    let pointer: OpaquePointer

    /// Gives the socket back to libmicrohttpd, which closes it and finishes the request.
    /// Returns `false` if libmicrohttpd refused.
    func close() -> Bool {
        cmhd_upgrade_close(pointer) == .YES
    }
}
