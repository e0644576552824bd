import FoundationEssentials
import MicroHTTPD

/// The files of `public/`, served read-only with their media types.
///
/// A path is decoded segment by segment; `.`, `..`, empty segments and segments holding `/`
/// or NUL once decoded are refused before the file system is touched, and the resolved file
/// must still lie inside the folder, so neither `..` nor a symbolic link leads out of it.
struct StaticFiles: Sendable {
    /// The folder, with symbolic links resolved.
    let root: String

    /// Serves from `directory`.
    init(directory: String) {
        root = Self.resolved(directory)
    }

    /// The response for a raw request path: the file, a redirect to a folder's `/`, or a 404.
    func response(forPath path: ArraySlice<UInt8>) throws -> HTTPResponse {
        let pathText = String(decoding: path, as: UTF8.self)
        let notFound = GatewayError.notFound("No file at '\(pathText)'.")
        var segments = path.dropFirst().split(
            separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let isFolderPath = segments.last?.isEmpty ?? true
        if isFolderPath {
            segments.removeLast()
        }
        var components: [String] = []
        for segment in segments {
            let decoded = try PercentEncoding.decodeText(segment)
            guard !decoded.isEmpty, decoded != ".", decoded != "..",
                !decoded.contains("/"), !decoded.contains("\0")
            else { throw notFound }
            components.append(decoded)
        }
        let relative = components.joined(separator: "/")
        let candidate = relative.isEmpty ? root : root + "/" + relative
        let resolved = Self.resolved(candidate)
        guard resolved == root || resolved.hasPrefix(root + "/") else { throw notFound }

        var isDirectory = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
            throw notFound
        }
        if isDirectory {
            guard isFolderPath else {
                return HTTPResponse(
                    status: .movedPermanently, headers: [HTTPHeader("Location", pathText + "/")])
            }
            return try file(at: resolved + "/index.html", named: "index.html", notFound: notFound)
        }
        guard !isFolderPath else { throw notFound }
        return try file(at: resolved, named: components.last ?? "", notFound: notFound)
    }

    private func file(at path: String, named name: String, notFound: GatewayError) throws(GatewayError)
        -> HTTPResponse
    {
        guard let contents = FileManager.default.contents(atPath: path) else { throw notFound }
        return HTTPResponse(
            status: .ok,
            headers: [
                HTTPHeader("Content-Type", MediaType.ofFile(named: name[...])),
                HTTPHeader("Cache-Control", "no-cache"),
                HTTPHeader("X-Content-Type-Options", "nosniff"),
            ],
            body: Array(contents))
    }

    /// The absolute path with symbolic links, `.` and `..` resolved, without a trailing `/`.
    private static func resolved(_ path: String) -> String {
        let resolved = URL(filePath: path).standardizedFileURL.resolvingSymlinksInPath()
            .path(percentEncoded: false)
        return resolved.count > 1 && resolved.hasSuffix("/") ? String(resolved.dropLast()) : resolved
    }
}
