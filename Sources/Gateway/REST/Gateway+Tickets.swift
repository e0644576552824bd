import MicroHTTPD

extension Gateway {
    /// `POST /v1/tickets`: 201 `{"ticket", "expiresIn"}`, a single-use ticket carrying the
    /// caller's token, for a browser to open an event stream or a WebSocket with
    /// (`?ticket=`), since neither can send a header. A 404 when access control is off.
    func issueTicket(_ request: HTTPRequest, for caller: Caller) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        guard let accessControl else {
            throw GatewayError.notFound(
                "Access control is off on this server (no --auth-tokens): no ticket is needed.")
        }
        let ticket = TicketBody(
            ticket: accessControl.issueTicket(for: caller),
            expiresIn: Int(accessControl.ticketLifetime.components.seconds))
        return .respond(.json(ticket, status: .created, headers: [HTTPHeader("Cache-Control", "no-store")]))
    }
}
