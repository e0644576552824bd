/// What a server asks of the application: an answer to each request.
///
/// `answer(_:)` runs on one of libmicrohttpd's threads, for every request, so it must be fast
/// and must never block: answer at once, or park the request and answer it later.
package protocol HTTPHandler: Sendable {
    /// Answers one request, or parks it.
    func answer(_ request: HTTPRequest) -> HTTPAnswer

    /// Renders an error the server detected itself, before or instead of calling `answer(_:)`:
    /// a body over the limit, or a request arriving while the server shuts down.
    func response(for error: HTTPError) -> HTTPResponse
}
