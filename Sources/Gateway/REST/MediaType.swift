import MicroHTTPD

/// Media types: checking the one a writer sends, and naming the one of a file.
enum MediaType {
    /// The longest `Content-Type` stored with a value.
    static let maxLength = 256

    /// Checks a `Content-Type` to store: `type/subtype` tokens, optional parameters, visible
    /// ASCII only, at most `maxLength` bytes. It is sent back verbatim on every read.
    static func validate(_ value: String) throws(GatewayError) -> String {
        let invalid = GatewayError.badRequest(
            "Content-Type must be a media type such as text/plain; charset=utf-8, "
                + "in visible ASCII and at most \(maxLength) bytes.")
        guard value.utf8.count <= maxLength,
            value.utf8.allSatisfy({ (0x20...0x7E).contains($0) || $0 == 0x09 })
        else { throw invalid }
        let essence = value.prefix(while: { $0 != ";" })
        let parts = essence.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ HTTPToken.isToken($0.utf8) }) else { throw invalid }
        return value
    }

    /// The media type of a file, by its extension; `application/octet-stream` when unknown.
    static func ofFile(named name: Substring) -> String {
        let fileExtension = name.split(separator: ".").last.map { $0.lowercased() } ?? ""
        return fileTypes[fileExtension] ?? "application/octet-stream"
    }

    private static let fileTypes: [String: String] = [
        "html": "text/html; charset=utf-8",
        "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "mjs": "text/javascript; charset=utf-8",
        "json": "application/json",
        "map": "application/json",
        "yaml": "application/yaml",
        "yml": "application/yaml",
        "txt": "text/plain; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "ico": "image/x-icon",
        "woff2": "font/woff2",
        "woff": "font/woff",
        "wasm": "application/wasm",
        "webmanifest": "application/manifest+json",
    ]
}
