import Dispatch
import Foundation
import KeygateTestSupport
import Keyspace
import Testing

@Suite("Concurrent clients")
struct ConcurrencyTests {
    @Test func thirtyTwoClientsEachReadTheirOwnWrites() throws {
        try withGateway { gateway in
            let failures = TestLock<[String]>([])
            let clients = DispatchGroup()
            for client in 0..<32 {
                clients.enter()
                // Threads of their own: each client blocks on its socket.
                Thread.detachNewThread {
                    defer { clients.leave() }
                    do {
                        let connection = try gateway.client()
                        for round in 0..<50 {
                            let key = "client\(client)-key\(round % 5)"
                            let value = "value \(client) \(round)"
                            let written = try connection.request("PUT", "/v1/cache/\(key)", text: value)
                            guard written.status == 201 || written.status == 204 else {
                                throw TestHTTPClient.Failure(description: "PUT \(key) got \(written.status)")
                            }
                            let read = try connection.request("GET", "/v1/cache/\(key)")
                            guard read.status == 200, read.text == value else {
                                throw TestHTTPClient.Failure(
                                    description: "GET \(key) got \(read.status) \(read.text)")
                            }
                        }
                    } catch {
                        failures.withLock { $0.append("client \(client): \(error)") }
                    }
                }
            }
            #expect(clients.wait(timeout: .now() + 60) == .success)
            #expect(failures.withLock { $0 } == [])
            #expect(gateway.keyspace.count == 32 * 5)
            #expect(gateway.keyspace.isConsistent)
        }
    }
}
