import KeygateTestSupport
import Testing

/// Checks that `response` is an RFC 9457 problem with `status` (and `slug`, when given).
func expectProblem(
    _ response: TestResponse, status: Int, slug: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status == status, sourceLocation: sourceLocation)
    #expect(response.header("Content-Type") == "application/problem+json", sourceLocation: sourceLocation)
    let problem = response.jsonObject
    #expect(problem?["status"] as? Int == status, sourceLocation: sourceLocation)
    #expect((problem?["title"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    #expect((problem?["detail"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    if let slug {
        #expect(problem?["type"] as? String == "/problems/\(slug)", sourceLocation: sourceLocation)
    } else {
        #expect(
            (problem?["type"] as? String)?.hasPrefix("/problems/") == true, sourceLocation: sourceLocation)
    }
}
