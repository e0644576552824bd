import Foundation
import Gateway
import KeygateTestSupport
import Keyspace
import Testing

@Suite("Cache values over HTTP")
struct CacheValueTests {
    @Test func createsThenReplacesAValue() throws {
        try withGateway { gateway in
            let created = try gateway.request(
                "PUT", "/v1/cache/greeting", headers: [("Content-Type", "text/plain; charset=utf-8")],
                text: "hello")
            #expect(created.status == 201)
            #expect(created.header("Location") == "/v1/cache/greeting")
            let firstTag = try #require(created.header("ETag"))
            #expect(created.body.isEmpty)

            let read = try gateway.request("GET", "/v1/cache/greeting")
            #expect(read.status == 200)
            #expect(read.text == "hello")
            #expect(read.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(read.header("ETag") == firstTag)

            let replaced = try gateway.request("PUT", "/v1/cache/greeting", text: "bye")
            #expect(replaced.status == 204)
            #expect(replaced.header("ETag") != firstTag)
            let reread = try gateway.request("GET", "/v1/cache/greeting")
            #expect(reread.text == "bye")
            #expect(reread.header("Content-Type") == "application/octet-stream")
        }
    }

    @Test func keepsEveryByteOfABinaryValue() throws {
        try withGateway { gateway in
            let bytes = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }
            #expect(try gateway.request("PUT", "/v1/cache/blob", body: bytes).status == 201)
            #expect(try gateway.request("GET", "/v1/cache/blob").body == bytes)
            #expect(try gateway.request("PUT", "/v1/cache/empty", body: []).status == 201)
            let empty = try gateway.request("GET", "/v1/cache/empty")
            #expect(empty.status == 200)
            #expect(empty.body.isEmpty)
        }
    }

    @Test func headGivesTheHeadersWithoutTheBody() throws {
        try withGateway { gateway in
            _ = try gateway.request(
                "PUT", "/v1/cache/k", headers: [("Content-Type", "text/csv")], text: "a,b,c")
            let client = try gateway.client()
            let head = try client.request("HEAD", "/v1/cache/k")
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "5")
            #expect(head.header("Content-Type") == "text/csv")
            #expect(head.body.isEmpty)
            // Nothing of a body was sent: the next answer on the connection starts cleanly.
            #expect(try client.request("GET", "/v1/cache/k").text == "a,b,c")
            #expect(try client.request("HEAD", "/v1/cache/absent").status == 404)
        }
    }

    @Test func answers404ForAnAbsentKey() throws {
        try withGateway { gateway in
            expectProblem(try gateway.request("GET", "/v1/cache/absent"), status: 404, slug: "not-found")
        }
    }

    @Test func deletesAValue() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/k", text: "v")
            let deleted = try gateway.request("DELETE", "/v1/cache/k")
            #expect(deleted.status == 204)
            #expect(try gateway.request("GET", "/v1/cache/k").status == 404)
            expectProblem(try gateway.request("DELETE", "/v1/cache/k"), status: 404)
        }
    }

    @Test func expiresAValueAtItsTimeToLive() throws {
        try withGateway { gateway in
            #expect(try gateway.request("PUT", "/v1/cache/k?ttl=0.25", text: "v").status == 201)
            gateway.clock.advance(by: .milliseconds(249))
            #expect(try gateway.request("GET", "/v1/cache/k").status == 200)
            gateway.clock.advance(by: .milliseconds(1))
            // Lazy expiry: the expirer has not run, the read itself sees the deadline.
            expectProblem(try gateway.request("GET", "/v1/cache/k"), status: 404)
            #expect(gateway.keyspace.count == 0)
        }
    }

    @Test func theExpirerRemovesExpiredValues() throws {
        try withGateway { gateway in
            for index in 0..<10 {
                _ = try gateway.request("PUT", "/v1/cache/k\(index)?ttl=1", text: "v")
            }
            _ = try gateway.request("PUT", "/v1/cache/kept", text: "v")
            gateway.clock.advance(by: .seconds(1))
            #expect(gateway.keyspace.expireDueKeys().expired.count == 10)
            #expect(gateway.keyspace.count == 1)
        }
    }

    @Test func aWriteWithoutTimeToLiveClearsTheOldOne() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/k?ttl=1", text: "v")
            _ = try gateway.request("PUT", "/v1/cache/k", text: "w")
            #expect(try gateway.request("GET", "/v1/cache/k/ttl").text == #"{"ttl":null}"#)
            gateway.clock.advance(by: .seconds(2))
            #expect(try gateway.request("GET", "/v1/cache/k").text == "w")
        }
    }

    @Test(
        arguments: [
            "", "abc", "-1", "0", "0.0", "0.0000", "1e3", "inf", "nan", "+1", " 1", "1 ", "1.5.2",
            "0x10", "10000000001", "99999999999999999999999", ".", "1,5",
        ])
    func refusesABadTimeToLiveAndChangesNothing(ttl: String) throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/k", text: "original")
            let encoded = ttl.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ttl
            let response = try gateway.request("PUT", "/v1/cache/k?ttl=\(encoded)", text: "changed")
            expectProblem(response, status: 400)
            #expect(try gateway.request("GET", "/v1/cache/k").text == "original")
            #expect(try gateway.request("GET", "/v1/cache/k/ttl").text == #"{"ttl":null}"#)
        }
    }

    @Test(arguments: [("1", 1000), ("0.25", 250), (".5", 500), ("2.", 2000), ("0.0001", 1), ("3.0015", 3002)])
    func acceptsDecimalTimesToLive(ttl: String, milliseconds: Int64) throws {
        try withGateway { gateway throws in
            #expect(try gateway.request("PUT", "/v1/cache/k?ttl=\(ttl)", text: "v").status == 201)
            #expect(
                try gateway.timeToLive(of: "k") == .remaining(.milliseconds(milliseconds)))
        }
    }

    @Test func refusesAMalformedContentTypeAndChangesNothing() throws {
        try withGateway { gateway in
            let response = try gateway.request(
                "PUT", "/v1/cache/k", headers: [("Content-Type", "not a media type")], text: "v")
            expectProblem(response, status: 400)
            #expect(try gateway.request("GET", "/v1/cache/k").status == 404)
        }
    }

    @Test func refusesUnknownAndRepeatedQueryParameters() throws {
        try withGateway { gateway in
            expectProblem(try gateway.request("PUT", "/v1/cache/k?tll=5", text: "v"), status: 400)
            expectProblem(try gateway.request("PUT", "/v1/cache/k?ttl=5&ttl=6", text: "v"), status: 400)
            expectProblem(try gateway.request("GET", "/v1/cache/k?x=1"), status: 400)
            #expect(try gateway.request("GET", "/v1/cache/k").status == 404)
        }
    }

    @Test func refusesABodyOverTheLimitAndStoresNothing() throws {
        try withGateway(maxBodyBytes: 1024) { gateway in
            let response = try gateway.request("PUT", "/v1/cache/k", body: [UInt8](repeating: 1, count: 1025))
            expectProblem(response, status: 413, slug: "content-too-large")
            #expect(try gateway.request("GET", "/v1/cache/k").status == 404)
            #expect(
                try gateway.request("PUT", "/v1/cache/k", body: [UInt8](repeating: 1, count: 1024)).status
                    == 201)
        }
    }
}
