/// Why a request was refused by access control, as `keygate_auth_failures_total` counts it.
package enum AuthenticationFailure: String, CaseIterable, Sendable {
    /// No token was sent.
    case missing
    /// A token was sent that the token file does not hold.
    case invalid
    /// A known token outside its scopes.
    case forbidden
    /// A ticket that is unknown, used or expired.
    case ticket
}
