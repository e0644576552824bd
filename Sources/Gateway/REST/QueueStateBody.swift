/// The JSON of `GET /v1/queues/{name}`: `{"name", "length", "visible", "inFlight", "delayed",
/// "consumers"}`.
struct QueueStateBody: Encodable {
    let name: String
    let length: Int
    let visible: Int
    let inFlight: Int
    let delayed: Int
    let consumers: Int
}
