/// An answer that takes the connection over from HTTP: a `101 Switching Protocols` with these
/// headers, after which the socket belongs to `handler`.
package struct HTTPUpgrade: Sendable {
    /// Header fields of the `101`, such as `Upgrade` and `Sec-WebSocket-Accept`;
    /// libmicrohttpd adds `Connection: Upgrade` itself.
    package var headers: [HTTPHeader]
    /// What serves the socket once upgraded.
    package var handler: any UpgradeHandler

    /// Creates an upgrade.
    package init(headers: [HTTPHeader], handler: any UpgradeHandler) {
        self.headers = headers
        self.handler = handler
    }
}
