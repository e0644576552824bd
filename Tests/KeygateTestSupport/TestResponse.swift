import Foundation

/// A response as a test client read it.
package struct TestResponse: Sendable {
    /// The status code.
    package var status: Int
    /// Header fields in the order received.
    package var headers: [(String, String)]
    /// The body bytes.
    package var body: [UInt8]

    /// Creates a response.
    package init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, matched case-insensitively.
    package func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The body as UTF-8 text.
    package var text: String {
        String(decoding: body, as: UTF8.self)
    }

    /// The body parsed as a JSON object, or `nil` when it is not one.
    package var jsonObject: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]))
            as? [String: Any]
    }
}
