import CMicroHTTPD

extension HTTPResponse {
    /// Hands the response to libmicrohttpd for `connection` (`MHD_queue_response`).
    ///
    /// Called on the connection's thread. The body is copied once, into libmicrohttpd's buffer.
    /// Returns `false` when libmicrohttpd refused it, which closes the connection.
    func queue(on connection: ConnectionHandle) -> Bool {
        let response = body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(
                bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                .RESPMEM_MUST_COPY)
        }
        guard let response else { return false }
        defer { MHD_destroy_response(response) }
        return queue(response, on: connection)
    }

    /// Adds this response's status and headers to `response`, a libmicrohttpd response built
    /// by the caller (who still destroys it), and queues it for `connection`.
    func queue(_ response: OpaquePointer, on connection: ConnectionHandle) -> Bool {
        for header in headers {
            // A header with CR, LF or NUL is refused here; the connection is closed rather
            // than a response sent without it.
            let isAdded = header.name.withCString { name in
                header.value.withCString { value in
                    MHD_add_response_header(response, name, value) == .YES
                }
            }
            guard isAdded else { return false }
        }
        return MHD_queue_response(connection.pointer, UInt32(status.code), response) == .YES
    }
}
