/// The JSON of `GET /v1/queues/{name}`: `{"name", "length", "consumers"}`.
struct QueueStateBody: Encodable {
    let name: String
    let length: Int
    let consumers: Int
}
