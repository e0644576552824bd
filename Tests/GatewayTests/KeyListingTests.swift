import Foundation
import KeygateTestSupport
import Keyspace
import Testing

@Suite("Key listing over HTTP")
struct KeyListingTests {
    @Test func listsKeysWithTypeTimeToLiveAndSize() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/user:1?ttl=12.5", text: "hello")
            _ = try gateway.request("PUT", "/v1/cache/user:2", text: "")
            _ = try gateway.request("PUT", "/v1/cache/other", text: "x")
            let response = try gateway.request("GET", "/v1/keys?prefix=user:")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            #expect(
                response.text
                    == #"{"cursor":null,"keys":[{"bytes":5,"key":"user:1","ttl":12.5,"type":"string"},"#
                    + #"{"bytes":0,"key":"user:2","ttl":null,"type":"string"}]}"#)
        }
    }

    @Test func pagesThroughEveryKeyExactlyOnce() throws {
        try withGateway { gateway in
            let client = try gateway.client()
            let names = (0..<250).map { String(format: "item-%03d", $0) }
            for name in names.shuffled() {
                #expect(try client.request("PUT", "/v1/cache/\(name)", text: "v").status == 201)
            }
            _ = try client.request("PUT", "/v1/cache/zzz", text: "v")
            var listed: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let query = "prefix=item-&limit=40" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try #require(try client.request("GET", "/v1/keys?\(query)").jsonObject)
                let keys = try #require(page["keys"] as? [[String: Any]])
                listed += keys.compactMap { $0["key"] as? String }
                cursor = page["cursor"] as? String
                pages += 1
            } while cursor != nil
            #expect(listed == names)
            #expect(pages == 7)
        }
    }

    @Test func listsEverythingWithoutAPrefixAndSkipsExpiredKeys() throws {
        try withGateway { gateway in
            _ = try gateway.request("PUT", "/v1/cache/b?ttl=1", text: "v")
            _ = try gateway.request("PUT", "/v1/cache/a", text: "v")
            gateway.clock.advance(by: .seconds(1))
            let page = try #require(try gateway.request("GET", "/v1/keys").jsonObject)
            #expect((page["keys"] as? [[String: Any]])?.compactMap { $0["key"] as? String } == ["a"])
        }
    }

    @Test(arguments: [
        "limit=0", "limit=1001", "limit=abc", "limit=-1", "cursor=%%%", "cursor=AAAA", "cursor=", "sort=asc",
    ])
    func refusesBadParameters(query: String) throws {
        try withGateway { gateway in
            expectProblem(try gateway.request("GET", "/v1/keys?\(query)"), status: 400)
        }
    }

    @Test func refusesAnOverlongPrefix() throws {
        try withGateway { gateway in
            let prefix = String(repeating: "p", count: 1025)
            expectProblem(try gateway.request("GET", "/v1/keys?prefix=\(prefix)"), status: 400)
        }
    }
}
