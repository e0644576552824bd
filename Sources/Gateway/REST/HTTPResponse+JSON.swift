import FoundationEssentials
import MicroHTTPD

extension HTTPResponse {
    /// A response whose body is `value` as JSON.
    static func json(
        _ value: some Encodable, status: HTTPStatus = .ok,
        contentType: String = "application/json", headers: [HTTPHeader] = []
    ) -> HTTPResponse {
        let body: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            body = try encoder.encode(value)
        } catch {
            // Our bodies hold strings, integers and finite numbers only, which always encode.
            preconditionFailure("JSON encoding of \(type(of: value)) failed: \(error)")
        }
        return HTTPResponse(
            status: status, headers: [HTTPHeader("Content-Type", contentType)] + headers,
            body: Array(body))
    }

    /// A response whose body is `value`, written by hand (members in the order of their names).
    static func json(_ value: JSONValue, status: HTTPStatus = .ok) -> HTTPResponse {
        json(bytes: Array(value.text.utf8), status: status)
    }

    /// A response whose body is JSON text already written (by a `JSONWriter`, on paths where
    /// building a `JSONValue` first would cost more than the operation).
    static func json(bytes: [UInt8], status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: [HTTPHeader("Content-Type", "application/json")], body: bytes)
    }
}
