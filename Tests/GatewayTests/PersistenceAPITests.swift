import Dispatch
import Foundation
import Gateway
import KeygateTestSupport
import Keyspace
import Testing

@Suite("Persistence over HTTP", .serialized)
struct PersistenceAPITests {
    let directory = FileManager.default.temporaryDirectory.appending(
        path: "keygate-data-\(UUID().uuidString)"
    ).path()

    func persisting(_ fsync: PersistenceConfiguration.FsyncPolicy) -> (inout KeygateServer.Configuration) ->
        Void
    {
        { [directory] configuration in
            var persistence = PersistenceConfiguration(directory: directory)
            persistence.fsync = fsync
            configuration.keyspace.persistence = persistence
        }
    }

    func health(_ gateway: GatewayFixture) throws -> [String: Any] {
        let answer = try gateway.request("GET", "/healthz")
        #expect(answer.status == 200)
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
    }

    @Test(arguments: [PersistenceConfiguration.FsyncPolicy.always, .everysec, .no])
    func changesAnsweredBeforeAStopAreThereAfterIt(_ fsync: PersistenceConfiguration.FsyncPolicy) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try withGateway(realTime: true, configure: persisting(fsync)) { gateway in
            #expect(try gateway.request("PUT", "/v1/cache/kept?ttl=600", text: "value").status == 201)
            #expect(try gateway.request("PUT", "/v1/cache/gone", text: "x").status == 201)
            #expect(try gateway.request("DELETE", "/v1/cache/gone").status == 204)
            #expect(try gateway.request("PUT", "/v1/cache/forever?ttl=5", text: "y").status == 201)
            #expect(
                try gateway.request("PUT", "/v1/cache/forever/ttl", text: #"{"ttl": null}"#).status == 204)
            for message in ["one", "two", "three"] {
                #expect(try gateway.request("POST", "/v1/queues/jobs", text: message).status == 201)
            }
            let popped = try gateway.request("POST", "/v1/queues/jobs/pop")
            #expect(popped.status == 200)
            #expect(popped.text == "one")
            let health = try health(gateway)
            let persistence = try #require(health["persistence"] as? [String: Any])
            #expect(health["status"] as? String == "ok")
            #expect(persistence["enabled"] as? Bool == true)
            #expect(persistence["fsync"] as? String == fsync.rawValue)
            #expect(persistence["directory"] as? String == directory)
            #expect((persistence["logBytes"] as? Int ?? 0) > 0)
            if fsync == .always {
                // Every change above was answered after a sync.
                #expect(persistence["lastFsync"] is Int)
            }
        }
        try withGateway(realTime: true, configure: persisting(fsync)) { gateway in
            #expect(try gateway.request("GET", "/v1/cache/kept").text == "value")
            let timeToLive = try #require(try gateway.timeToLive(of: "kept"))
            guard case .remaining(let left) = timeToLive else {
                Issue.record("the time to live was lost: \(timeToLive)")
                return
            }
            #expect(left > .seconds(590) && left <= .seconds(600))
            #expect(try gateway.request("GET", "/v1/cache/gone").status == 404)
            #expect(try gateway.timeToLive(of: "forever") == .persistent)
            #expect(try gateway.request("POST", "/v1/queues/jobs/pop").text == "two")
            #expect(try gateway.request("POST", "/v1/queues/jobs/pop").text == "three")
            #expect(try gateway.request("POST", "/v1/queues/jobs/pop").status == 204)
        }
    }

    @Test func alwaysGroupCommitsConcurrentChanges() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writers = 16
        let writesEach = 25
        try withGateway(realTime: true, configure: persisting(.always)) { gateway in
            let failures = TestLock<[String]>([])
            DispatchQueue.concurrentPerform(iterations: writers) { writer in
                do {
                    let client = try gateway.client()
                    for index in 0..<writesEach {
                        let answer = try client.request(
                            "PUT", "/v1/cache/w\(writer)-\(index)", text: "\(index)")
                        if answer.status != 201 {
                            failures.withLock { $0.append("w\(writer)-\(index): \(answer.status)") }
                        }
                        let push = try client.request("POST", "/v1/queues/q\(writer)", text: "\(index)")
                        if push.status != 201 {
                            failures.withLock { $0.append("push q\(writer) \(index): \(push.status)") }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 } == [])
        }
        try withGateway(realTime: true, configure: persisting(.always)) { gateway in
            #expect(gateway.keyspace.count == writers * writesEach + writers)
            for writer in 0..<writers {
                let messages = try gateway.keyspace.peek(Key("q\(writer)"), limit: 100)
                #expect(
                    messages.map { String(decoding: $0.message.bytes, as: UTF8.self) }
                        == (0..<writesEach).map(String.init))
            }
        }
    }

    @Test func aParkedPopIsHandedAMessagePushedWithAlways() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try withGateway(realTime: true, configure: persisting(.always)) { gateway in
            let consumer = try gateway.client()
            try consumer.send(TestHTTPClient.encode("POST", "/v1/queues/work/pop?wait=10"))
            try gateway.waitForConsumers(1, on: "work")
            #expect(try gateway.request("POST", "/v1/queues/work", text: "job").status == 201)
            let answer = try consumer.readResponse(method: "POST")
            #expect(answer.status == 200)
            #expect(answer.text == "job")
        }
        // Handed straight to the consumer, the message is in no queue after a restart.
        try withGateway(realTime: true, configure: persisting(.always)) { gateway in
            let pop = try gateway.request("POST", "/v1/queues/work/pop")
            #expect(pop.status == 204)
        }
    }

    @Test func aSecondServerOnTheSameDirectoryRefusesToStart() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try withGateway(configure: persisting(.everysec)) { _ in
            #expect(throws: PersistenceError.locked(directory: directory)) {
                try withGateway(configure: persisting(.everysec)) { _ in }
            }
        }
    }

    @Test func memoryOnlyReportsPersistenceOff() throws {
        try withGateway { gateway in
            let health = try health(gateway)
            #expect(health["status"] as? String == "ok")
            #expect(health["persistence"] as? [String: Bool] == ["enabled": false])
        }
    }
}
