import MicroHTTPD
import WebSocket

extension Gateway {
    /// `GET /v1/ws`: the WebSocket handshake (RFC 6455, section 4.2); the socket then goes to a
    /// `WebSocketSession`.
    func upgradeToWebSocket(_ request: HTTPRequest) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        // Browsers do not apply CORS to WebSockets: a page of any origin could open one.
        guard cors.allowsWebSocket(origin: request.header("Origin"), host: request.header("Host")) else {
            throw HTTPError(
                status: .forbidden,
                detail: "WebSockets from pages of this origin are not allowed here (see --cors-origin).")
        }
        let accept: String
        do {
            accept = try Handshake.accept(
                upgrade: request.header("Upgrade"),
                connection: request.headerValues("Connection").joined(separator: ","),
                version: request.header("Sec-WebSocket-Version"),
                key: request.header("Sec-WebSocket-Key"))
        } catch .notAnUpgrade(let detail) {
            throw HTTPError(
                status: .upgradeRequired, detail: "\(detail) /v1/ws speaks WebSocket only.",
                headers: [HTTPHeader("Upgrade", "websocket")])
        } catch .unsupportedVersion {
            throw HTTPError(
                status: .upgradeRequired, detail: "Keygate speaks WebSocket version 13 (RFC 6455).",
                headers: [HTTPHeader("Sec-WebSocket-Version", Handshake.version)])
        } catch .invalidKey {
            throw HTTPError.badRequest("Sec-WebSocket-Key must be the base64 of 16 random bytes.")
        }
        return .upgrade(
            HTTPUpgrade(
                headers: [HTTPHeader("Upgrade", "websocket"), HTTPHeader("Sec-WebSocket-Accept", accept)],
                handler: WebSocketSession(gateway: self)))
    }
}
