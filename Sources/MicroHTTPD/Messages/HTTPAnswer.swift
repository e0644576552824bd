/// The outcome of handling a request.
package enum HTTPAnswer: Sendable {
    /// Send this response now.
    case respond(HTTPResponse)
    /// Suspend the connection until someone answers the parked request or its deadline passes.
    case park(ParkingPlan)
    /// Send a response whose body is produced over time.
    case stream(HTTPStream)
    /// Switch protocols: send a `101`, then hand the socket to the upgrade's handler.
    case upgrade(HTTPUpgrade)
}
