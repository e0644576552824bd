import Keyspace
import MicroHTTPD

extension Gateway {
    /// The page size when a listing names none.
    static var defaultPageSize: Int { 100 }
    /// The largest page a listing returns.
    static var maxPageSize: Int { 1000 }

    /// `GET /v1/keys?prefix=P&limit=N&cursor=C`: one page of keys in byte order.
    func listKeys(_ request: HTTPRequest) throws -> HTTPResponse {
        let parameters = try request.parameters(allowed: ["prefix", "limit", "cursor"])
        let prefix = Array((parameters["prefix"] ?? "").utf8)
        guard prefix.count <= keyLimit.maxBytes else {
            throw HTTPError.badRequest("'prefix' is at most \(keyLimit.maxBytes) bytes.")
        }
        let limit = try parameters["limit"].map(Self.pageSize) ?? Self.defaultPageSize
        let cursor = try parameters["cursor"].map(ListingCursor.decode)
        let page = store.keys(prefix: prefix, after: cursor, limit: limit)
        return .json(KeyListing(page))
    }

    private static func pageSize(_ text: String) throws(HTTPError) -> Int {
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let size = Int(text), (1...maxPageSize).contains(size)
        else {
            throw .badRequest("'limit' must be a whole number from 1 to \(maxPageSize).")
        }
        return size
    }
}
