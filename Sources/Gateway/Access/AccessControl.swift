import DequeModule
import FoundationEssentials
import Logging
import Plumbing

/// Who may do what: the tokens of the token file (re-read by `reload()`, on SIGHUP), the
/// single-use tickets browsers trade a token for, and the event streams and sockets to end
/// when the token they were opened with is revoked.
///
/// Authenticating a request hashes its token (SHA-256) and looks the digest up, under a short
/// lock; tokens themselves are never kept, only their digests.
package final class AccessControl: Sendable {
    /// A stream or socket held open by a token, to end if the token is revoked.
    package struct Watch: Hashable, Sendable {
        fileprivate let id: UInt64
    }

    private struct Ticket {
        let token: Token
        let expiry: ContinuousClock.Instant
    }

    private struct Watcher {
        let token: Token
        let onRevoke: @Sendable () -> Void
    }

    private struct State {
        var tokens: [TokenDigest: Token] = [:]
        var tickets: [TokenDigest: Ticket] = [:]
        /// Tickets by expiry: all live as long, so issue order is expiry order.
        var ticketExpiries: Deque<(expiry: ContinuousClock.Instant, digest: TokenDigest)> = []
        var watchers: [UInt64: Watcher] = [:]
        var lastWatch: UInt64 = 0
        /// The `Authorization` fields accepted lately, with their tokens: a client sends the
        /// same field with every request, and this spares each one a SHA-256 (a third of what
        /// access control costs a GET). Only fields that named a known token enter, so unknown
        /// tokens cannot fill it; emptied when full and on every reload.
        var recentlyAccepted: [String: Token] = [:]

        /// The token of `digest`, remembered as `authorization`'s; `nil` when unknown.
        mutating func accept(_ authorization: String, as digest: TokenDigest) -> Token? {
            guard let token = tokens[digest] else { return nil }
            if recentlyAccepted.count >= AccessControl.recentlyAcceptedLimit {
                recentlyAccepted.removeAll(keepingCapacity: true)
            }
            recentlyAccepted[authorization] = token
            return token
        }
    }

    /// How many accepted `Authorization` fields are remembered at most.
    static let recentlyAcceptedLimit = 4096

    /// The token file.
    package let path: String
    /// How long a ticket is valid.
    package let ticketLifetime: Duration
    private let metrics: GatewayMetrics?
    private let state: Mutex<State>

    /// Access control by the tokens of the file at `path`, with tickets valid `ticketLifetime`;
    /// refusals are counted in `metrics`. Throws when the file cannot be used.
    package init(tokenFile path: String, ticketLifetime: Duration, metrics: GatewayMetrics?) throws(TokenFile
        .Failure)
    {
        self.path = path
        self.ticketLifetime = ticketLifetime
        self.metrics = metrics
        let file = try TokenFile(contentsOf: path)
        state = Mutex(State(tokens: Self.byDigest(file.tokens)))
    }

    /// The number of tokens accepted.
    package var tokenCount: Int {
        state.withLock { $0.tokens.count }
    }

    /// Reads the token file again: requests use the new tokens at once, and the streams and
    /// sockets of a token removed or changed end now. A file that cannot be used changes
    /// nothing; the error says why. Returns how many watchers were revoked.
    @discardableResult
    package func reload() throws(TokenFile.Failure) -> Int {
        let file = try TokenFile(contentsOf: path)
        let tokens = Self.byDigest(file.tokens)
        let revoked = state.withLock { state in
            state.tokens = tokens
            state.recentlyAccepted.removeAll()
            var revoked: [@Sendable () -> Void] = []
            for (id, watcher) in state.watchers where tokens[watcher.token.digest] != watcher.token {
                revoked.append(watcher.onRevoke)
                state.watchers[id] = nil
            }
            return revoked
        }
        for onRevoke in revoked {
            onRevoke()
        }
        return revoked.count
    }

    /// The caller whose `Authorization` header field is `authorization`
    /// (`Bearer TOKEN`, RFC 6750); a 401 when it is missing or names no known token.
    package func authenticate(authorization: String?) throws(GatewayError) -> Caller {
        guard let authorization else {
            metrics?.countAuthenticationFailure(.missing)
            throw .unauthorized(
                isTokenSent: false, detail: "This request needs 'Authorization: Bearer TOKEN'.")
        }
        if let known = state.withLock({ $0.recentlyAccepted[authorization] }) {
            return Caller(token: known)
        }
        guard let digest = Self.bearerDigest(in: authorization),
            let known = state.withLock({ state in state.accept(authorization, as: digest) })
        else {
            metrics?.countAuthenticationFailure(.invalid)
            throw .unauthorized(isTokenSent: true, detail: "The bearer token is not one this server accepts.")
        }
        return Caller(token: known)
    }

    /// A new single-use ticket carrying `caller`'s token, valid `ticketLifetime`, for a browser
    /// to open an event stream or a WebSocket with (neither can send a header).
    package func issueTicket(for caller: Caller) -> String {
        guard let token = caller.token else {
            preconditionFailure("tickets exist only with access control on")
        }
        let ticket = Self.randomToken()
        let now = ContinuousClock.now
        let digest = TokenDigest(of: ticket)
        state.withLock { state in
            Self.dropExpiredTickets(&state, now: now)
            state.tickets[digest] = Ticket(token: token, expiry: now + ticketLifetime)
            state.ticketExpiries.append((now + ticketLifetime, digest))
        }
        return ticket
    }

    /// The caller of a ticket, which is used up; a 401 when it is unknown, used, expired, or
    /// its token was revoked since.
    package func redeem(ticket: String) throws(GatewayError) -> Caller {
        let now = ContinuousClock.now
        let token = state.withLock { state -> Token? in
            Self.dropExpiredTickets(&state, now: now)
            guard let ticket = state.tickets.removeValue(forKey: TokenDigest(of: ticket)),
                state.tokens[ticket.token.digest] == ticket.token
            else { return nil }
            return ticket.token
        }
        guard let token else {
            metrics?.countAuthenticationFailure(.ticket)
            throw .unauthorized(
                isTokenSent: true, detail: "The ticket is unknown, used or expired; ask for a new one.")
        }
        return Caller(token: token)
    }

    /// Calls `onRevoke` once if `caller`'s token is removed or changed by a reload, until
    /// `unwatch` is called; nothing is watched when access control gave no token.
    package func watch(_ caller: Caller, onRevoke: @escaping @Sendable () -> Void) -> Watch? {
        guard let token = caller.token else { return nil }
        return state.withLock { state in
            state.lastWatch += 1
            state.watchers[state.lastWatch] = Watcher(token: token, onRevoke: onRevoke)
            return Watch(id: state.lastWatch)
        }
    }

    /// Stops watching: the stream or socket ended.
    package func unwatch(_ watch: Watch) {
        _ = state.withLock { $0.watchers.removeValue(forKey: watch.id) }
    }

    /// A new random token of 256 bits, in URL-safe base64 without padding (43 characters).
    package static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    /// The digest of the token of `Bearer TOKEN` (the scheme in any case, then one space or
    /// more); `nil` for anything else. Reads the bytes in place: this runs on every request.
    private static func bearerDigest(in field: String) -> TokenDigest? {
        var field = field
        return field.withUTF8 { bytes -> TokenDigest? in
            let scheme: StaticString = "bearer"
            let length = scheme.utf8CodeUnitCount
            guard bytes.count > length, bytes[length] == UInt8(ascii: " ") else { return nil }
            // ASCII letters compare in any case once their 0x20 bit is set.
            for index in 0..<length where bytes[index] | 0x20 != scheme.utf8Start[index] {
                return nil
            }
            var start = length
            while start < bytes.count, bytes[start] == UInt8(ascii: " ") {
                start += 1
            }
            guard start < bytes.count else { return nil }
            return TokenDigest(of: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
    }

    private static func byDigest(_ tokens: [Token]) -> [TokenDigest: Token] {
        Dictionary(tokens.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Forgets the tickets past their expiry, oldest first. Amortized O(1).
    private static func dropExpiredTickets(_ state: inout State, now: ContinuousClock.Instant) {
        while let first = state.ticketExpiries.first, first.expiry <= now {
            state.ticketExpiries.removeFirst()
            state.tickets[first.digest] = nil
        }
    }
}
