import MicroHTTPD

extension Gateway {
    /// `GET /openapi.yaml`: the contract; a 404 when the server was started without it.
    func openAPI() throws -> HTTPAnswer {
        guard let openAPIDocument else {
            throw GatewayError.notFound("This server was started without its openapi.yaml.")
        }
        return .respond(
            HTTPResponse(
                status: .ok, headers: [HTTPHeader("Content-Type", "application/yaml")], body: openAPIDocument)
        )
    }
}
