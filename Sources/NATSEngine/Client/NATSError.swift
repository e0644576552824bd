/// Why a request to the NATS cluster failed.
enum NATSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The C client failed: `function` returned `status` (its text), as when no server can be
    /// reached or a request timed out.
    case client(function: String, status: String)
    /// JetStream refused the request: its error code (`err_code`), and its description.
    case jetStream(code: Int, description: String)
    /// An answer could not be read as JetStream's documented JSON.
    case malformedAnswer(String)

    /// A sentence for an operator.
    var description: String {
        switch self {
        case .client(let function, let status): "\(function) failed: \(status)"
        case .jetStream(let code, let description): "JetStream error \(code): \(description)"
        case .malformedAnswer(let detail): "malformed JetStream answer: \(detail)"
        }
    }

    /// JetStream's code for a publish whose expected last subject sequence does not hold.
    static let wrongLastSubjectSequence = 10071
    /// JetStream's code for a stream that does not exist.
    static let streamNotFound = 10059
    /// JetStream's code for a message that does not exist.
    static let messageNotFound = 10037
    /// JetStream's code for a consumer created again with another configuration.
    static let consumerExists = 10148
    /// JetStream's code for a consumer that does not exist.
    static let consumerNotFound = 10014

    /// JetStream's code for a request no leader could answer yet (a group electing one).
    static let clusterUnavailable = 10008

    /// Whether nobody answered the request (a stream or consumer without a leader).
    var isNoResponders: Bool {
        if case .client(_, let status) = self { return status.lowercased().contains("no responders") }
        return false
    }

    /// Whether JetStream refused the request with `code`.
    func isJetStream(_ code: Int) -> Bool {
        if case .jetStream(code, _) = self { return true }
        return false
    }
}
