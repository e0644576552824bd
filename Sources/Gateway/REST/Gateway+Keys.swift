import MicroHTTPD

extension Gateway {
    /// `GET /v1/keys?prefix=P&limit=N&cursor=C`: one page of keys in byte order.
    func listKeys(_ request: HTTPRequest, by caller: Caller) throws -> HTTPAnswer {
        let parameters = try request.parameters(allowed: ["prefix", "limit", "cursor"])
        let prefix = Array((parameters["prefix"] ?? "").utf8)
        let keyLimit = operations.limits.keys
        guard prefix.count <= keyLimit.maxBytes else {
            throw GatewayError.badRequest("'prefix' is at most \(keyLimit.maxBytes) bytes.")
        }
        let limit =
            try parameters["limit"].map {
                try WholeNumber.parse($0, parameter: "limit", in: 1...Keys.maxPageSize)
            } ?? Keys.defaultPageSize
        let cursor = try parameters["cursor"].map(ListingCursor.decode)
        return try answer(
            operations.perform(Keys.List(prefix: prefix, cursor: cursor, limit: limit), by: caller)
        ) {
            .json(KeyListing($0))
        }
    }
}
