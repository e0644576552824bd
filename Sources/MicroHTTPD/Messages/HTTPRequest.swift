import CMicroHTTPD

/// A request, as the handler sees it while libmicrohttpd calls it.
///
/// The path stays bytes, percent-encoding intact, until something needs text: routing and
/// decoding work on bytes, which costs far less than `String` indexing. Valid only during
/// `HTTPHandler.answer(_:)`: header and query accessors read from the live connection, so copy
/// out what a parked request needs later.
package struct HTTPRequest {
    /// The method.
    package let method: HTTPMethod
    /// The path exactly as sent (percent-encoding intact), without the query.
    package let path: ArraySlice<UInt8>
    /// The body, complete.
    package let body: [UInt8]
    /// Where header and query accessors read from.
    let connection: ConnectionHandle

    init(method: HTTPMethod, path: [UInt8], body: [UInt8], connection: ConnectionHandle) {
        self.method = method
        self.path = path[...]
        self.body = body
        self.connection = connection
    }

    /// The path as text, for messages and headers (invalid UTF-8 is replaced).
    package var pathText: String {
        String(decoding: path, as: UTF8.self)
    }

    /// The first value of the header `name` (case-insensitive), or `nil` when absent.
    package func header(_ name: StaticString) -> String? {
        connection.header(named: name)
    }

    /// Every value of the header `name` (case-insensitive), in the order sent.
    package func headerValues(_ name: StaticString) -> [String] {
        connection.headerValues(named: name)
    }

    /// The client's IP address as text, or `-` when unknown; read from the connection on
    /// each call.
    package var clientAddress: String {
        connection.clientAddress
    }

    /// Whether the target has query parameters; cheap, nothing is decoded.
    package var hasQuery: Bool {
        MHD_get_connection_values(connection.pointer, .GET_ARGUMENT_KIND, nil, nil) > 0
    }

    /// The decoded query pairs, in order; a malformed escape or non-UTF-8 text is a 400.
    package func queryItems() throws(HTTPError) -> [QueryItem] {
        var items: [QueryItem] = []
        for (name, value) in connection.rawQueryPairs() {
            items.append(
                QueryItem(
                    name: try PercentEncoding.decodeText(name[...], plusIsSpace: true),
                    value: try PercentEncoding.decodeText(value[...], plusIsSpace: true)))
        }
        return items
    }
}
