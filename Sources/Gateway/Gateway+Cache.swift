import FoundationEssentials
import Keyspace
import MicroHTTPD

extension Gateway {
    /// `GET`/`HEAD /v1/cache/{key}`: the bytes with their media type and entity tag.
    func readValue(_ request: HTTPRequest, key: Key) throws -> HTTPResponse {
        _ = try request.parameters(allowed: [])
        guard let stored = try store.value(forKey: key) else {
            throw HTTPError.notFound("No value at the key '\(key)'.")
        }
        let entityTag = HTTPHeader("ETag", EntityTag.of(stored.version))
        if let known = try request.preconditionVersions("If-None-Match", weakMatches: true),
            known.contains(stored.version)
        {
            // The body is not sent; it makes libmicrohttpd's Content-Length the representation's
            // length, the only one RFC 9110 allows on a 304.
            return HTTPResponse(status: .notModified, headers: [entityTag], body: stored.value.bytes)
        }
        return HTTPResponse(
            status: .ok,
            headers: [HTTPHeader("Content-Type", stored.value.contentType), entityTag],
            body: stored.value.bytes)
    }

    /// `PUT /v1/cache/{key}[?ttl=SECONDS]`: stores the body; 201 when new, 204 when replaced.
    func writeValue(_ request: HTTPRequest, key: Key) throws -> HTTPResponse {
        let parameters = try request.parameters(allowed: ["ttl"])
        let timeToLive = try parameters["ttl"].map { try SecondsParser.parse($0) }
        let contentType =
            try request.contentType() ?? Payload.defaultContentType
        let outcome = try store.setValue(
            Payload(bytes: request.body, contentType: contentType), forKey: key,
            timeToLive: timeToLive, condition: try request.writeCondition())
        let entityTag = HTTPHeader("ETag", EntityTag.of(outcome.version))
        switch outcome {
        case .created:
            return HTTPResponse(
                status: .created, headers: [HTTPHeader("Location", request.pathText), entityTag])
        case .replaced:
            return HTTPResponse(status: .noContent, headers: [entityTag])
        }
    }

    /// `DELETE /v1/cache/{key}`: 204, or 404 when absent.
    func deleteValue(_ request: HTTPRequest, key: Key) throws -> HTTPResponse {
        _ = try request.parameters(allowed: [])
        guard try store.removeValue(forKey: key, condition: try request.writeCondition()) else {
            throw HTTPError.notFound("No value at the key '\(key)'.")
        }
        return HTTPResponse(status: .noContent)
    }

    /// `GET /v1/cache/{key}/ttl`: `{"ttl": seconds}` or `{"ttl": null}` for no expiry.
    func readTimeToLive(_ request: HTTPRequest, key: Key) throws -> HTTPResponse {
        _ = try request.parameters(allowed: [])
        guard let timeToLive = store.timeToLive(forKey: key) else {
            throw HTTPError.notFound("No key '\(key)'.")
        }
        return .json(TimeToLiveBody(timeToLive))
    }

    /// `PUT /v1/cache/{key}/ttl` with `{"ttl": seconds}` or `{"ttl": null}`: 204.
    func updateTimeToLive(_ request: HTTPRequest, key: Key) throws -> HTTPResponse {
        _ = try request.parameters(allowed: [])
        let update: TimeToLiveBody
        do {
            update = try JSONDecoder().decode(TimeToLiveBody.self, from: Data(request.body))
        } catch {
            throw HTTPError.badRequest(
                "The body must be JSON {\"ttl\": seconds} or {\"ttl\": null}, seconds a positive number.")
        }
        let timeToLive = try update.seconds.map { try SecondsParser.duration(seconds: $0) }
        guard try store.setTimeToLive(timeToLive, forKey: key) else {
            throw HTTPError.notFound("No key '\(key)'.")
        }
        return HTTPResponse(status: .noContent)
    }
}
