/// The JSON of `POST /v1/tickets`: `{"ticket", "expiresIn"}`, the ticket and its life in
/// seconds.
struct TicketBody: Encodable {
    let ticket: String
    let expiresIn: Int
}
