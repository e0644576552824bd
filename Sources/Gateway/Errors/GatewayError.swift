package import Keyspace
package import MicroHTTPD
package import WebSocket

/// Why the gateway refuses a request, whatever transport it came by: the vocabulary of this
/// layer, next to the engine's `KeyspaceError` and the HTTP layer's `HTTPError`. `Problem`
/// turns each into its problem answer.
package enum GatewayError: Error, Sendable, Equatable {
    /// The request is malformed: a parameter, a member or a body; the detail says which.
    case badRequest(String)
    /// Nothing is there: no endpoint, no value at the key, no subscription of that number.
    case notFound(String)
    /// The endpoint does not answer this method.
    case methodNotAllowed(HTTPMethod, allowed: MethodSet)
    /// A WebSocket handshake from a page of an origin that is not allowed.
    case originNotAllowed
    /// The WebSocket handshake is not one; the HTTP API does not answer it either.
    case handshakeRefused(Handshake.Failure)
    /// A socket holds as many waiting pops or subscriptions as one may; the detail says which.
    case tooManyOnSocket(String)
    /// Keygate is starting or stopping: not ready for traffic.
    case notReady
    /// An operation did not complete within this time, past its own deadline.
    case notCompleted(within: Duration)
    /// No token, or one the server does not accept: `isTokenSent` says which.
    case unauthorized(isTokenSent: Bool, detail: String)
    /// A known token outside its scopes: it may not do `action` on `key` (`nil` for `admin`,
    /// or for an action on no key in particular).
    case forbidden(AccessAction, key: Key?)
}
