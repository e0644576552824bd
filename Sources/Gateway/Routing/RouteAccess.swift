/// Who may call a route once access control is on.
enum RouteAccess: Sendable {
    /// Anyone: load balancers and the dashboard's sign-in page need these.
    case open
    /// The holder of a token (`Authorization: Bearer TOKEN`).
    case token
    /// The holder of a token, or of a ticket (`?ticket=`) for a browser that cannot send a header.
    case tokenOrTicket
    /// The holder of a token granted `admin`.
    case admin
}
