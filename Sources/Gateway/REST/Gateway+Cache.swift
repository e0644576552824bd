import FoundationEssentials
import Keyspace
import MicroHTTPD

extension Gateway {
    /// `/v1/cache/{key}`: `GET`/`HEAD` read the value, `PUT` writes it, `DELETE` deletes it.
    func cacheValue(_ request: HTTPRequest, key: Key, by caller: Caller) throws -> HTTPAnswer {
        switch request.method {
        case .put:
            let parameters = try request.parameters(allowed: ["ttl"])
            let timeToLive = try parameters["ttl"].map { try SecondsParser.parse($0) }
            let value = Payload(
                bytes: request.body, contentType: try request.contentType() ?? Payload.defaultContentType)
            let write = Cache.Write(
                key: key, value: value, timeToLive: timeToLive, condition: try request.writeCondition())
            // The path's bytes, made text only for a `Location`: most writes replace a value.
            return try answer(operations.perform(write, by: caller), with: request.path) { outcome, path in
                HTTPResponse.written(outcome, path: path)
            }
        case .delete:
            _ = try request.parameters(allowed: [])
            let delete = Cache.Delete(key: key, condition: try request.writeCondition())
            return try answer(operations.perform(delete, by: caller)) { HTTPResponse(status: .noContent) }
        default:
            _ = try request.parameters(allowed: [])
            // Read before the value, parsed after: a key that is absent is a 404 whatever it says.
            let ifNoneMatch = request.preconditionValues("If-None-Match")
            return try answer(operations.perform(Cache.Read(key: key), by: caller), with: ifNoneMatch) {
                stored, ifNoneMatch in
                try HTTPResponse.value(
                    stored,
                    ifNoneMatch: ifNoneMatch.map { try EntityTag.versions(in: $0, weakMatches: true) } ?? nil)
            }
        }
    }

    /// `/v1/cache/{key}/ttl`: `GET`/`HEAD` `{"ttl": seconds}` or `{"ttl": null}` for no
    /// expiry; `PUT` with one of those sets it.
    func timeToLive(_ request: HTTPRequest, key: Key, by caller: Caller) throws -> HTTPAnswer {
        _ = try request.parameters(allowed: [])
        guard request.method == .put else {
            return try answer(operations.perform(TTL.Read(key: key), by: caller)) {
                .json(TimeToLiveBody($0))
            }
        }
        let update: TimeToLiveBody
        do {
            update = try JSONDecoder().decode(TimeToLiveBody.self, from: Data(request.body))
        } catch {
            throw GatewayError.badRequest(
                "The body must be JSON {\"ttl\": seconds} or {\"ttl\": null}, seconds a positive number.")
        }
        let timeToLive = try update.seconds.map { try SecondsParser.duration(seconds: $0) }
        return try answer(operations.perform(TTL.Update(key: key, timeToLive: timeToLive), by: caller)) {
            HTTPResponse(status: .noContent)
        }
    }
}
