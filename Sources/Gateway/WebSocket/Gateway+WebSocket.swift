import MicroHTTPD
import WebSocket

extension Gateway {
    /// `GET /v1/ws`: the WebSocket handshake (RFC 6455, section 4.2); the socket then goes to a
    /// `WebSocketSession`, whose requests are `caller`'s. (`ticket` is read when the request is
    /// authenticated.)
    func upgradeToWebSocket(_ request: HTTPRequest, by caller: Caller) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [Self.ticketParameter])
        // Browsers do not apply CORS to WebSockets: a page of any origin could open one.
        guard
            configuration.cors.allowsWebSocket(origin: request.header("Origin"), host: request.header("Host"))
        else { throw GatewayError.originNotAllowed }
        let accept: String
        do {
            accept = try Handshake.accept(
                upgrade: request.header("Upgrade"),
                connection: request.headerValues("Connection").joined(separator: ","),
                version: request.header("Sec-WebSocket-Version"),
                key: request.header("Sec-WebSocket-Key"))
        } catch {
            throw GatewayError.handshakeRefused(error)
        }
        return .upgrade(
            HTTPUpgrade(
                headers: [HTTPHeader("Upgrade", "websocket"), HTTPHeader("Sec-WebSocket-Accept", accept)],
                handler: WebSocketSession(gateway: self, caller: caller)))
    }
}
