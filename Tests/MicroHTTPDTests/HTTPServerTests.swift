import Dispatch
import KeygateTestSupport
import MicroHTTPD
import Testing

@Suite("HTTP server over libmicrohttpd")
struct HTTPServerTests {
    @Test func bindsAFreePortWhenAskedForZero() throws {
        try withServer { server, _ in
            #expect(server.port > 0)
            let response = try TestHTTPClient(port: server.port).request("GET", "/echo")
            #expect(response.status == 200)
            #expect(response.text == "GET /echo\n")
        }
    }

    @Test func keepsConnectionsAliveAcrossRequests() throws {
        try withServer { server, _ in
            let client = try TestHTTPClient(port: server.port)
            for index in 0..<5 {
                let response = try client.request("GET", "/echo?n=\(index)")
                #expect(response.status == 200)
                #expect(response.header("Connection")?.lowercased() != "close")
                #expect(response.text == "GET /echo\nn=\(index)\n")
            }
        }
    }

    @Test func answersPipelinedRequestsInOrder() throws {
        try withServer { server, _ in
            let client = try TestHTTPClient(port: server.port)
            var batch: [UInt8] = []
            for index in 0..<10 {
                batch += TestHTTPClient.encode("POST", "/echo?n=\(index)", body: Array("body\(index)".utf8))
            }
            try client.send(batch)
            for index in 0..<10 {
                let response = try client.readResponse()
                #expect(response.text == "POST /echo\nn=\(index)\nbody\(index)")
            }
        }
    }

    @Test func keepsThePathAsSentAndDecodesTheQuery() throws {
        try withServer { server, _ in
            let response = try TestHTTPClient(port: server.port).request(
                "GET", "/a%2Fb/%20c?x=1+2&y=%2B%26&flag&=empty&z=%C3%A9")
            #expect(response.text == "GET /a%2Fb/%20c\nx=1 2\ny=+&\nflag=\n=empty\nz=é\n")
        }
    }

    @Test func refusesAMalformedQueryEscape() throws {
        try withServer { server, _ in
            let response = try TestHTTPClient(port: server.port).request("GET", "/echo?x=%zz")
            #expect(response.status == 400)
        }
    }

    @Test func readsEveryValueOfARepeatedHeader() throws {
        try withServer { server, _ in
            let response = try TestHTTPClient(port: server.port).request(
                "GET", "/header", headers: [("X-Test", "one"), ("x-test", "two"), ("X-Other", "no")])
            #expect(response.text == "one|two")
        }
    }

    @Test func receivesABodyUpToTheLimit() throws {
        try withServer(maxBodyBytes: 1000) { server, _ in
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: 1000)
            let response = try TestHTTPClient(port: server.port).request("PUT", "/echo", body: body)
            #expect(response.status == 200)
            #expect(response.body == Array("PUT /echo\n".utf8) + body)
        }
    }

    @Test func answers413BeforeReadingADeclaredBodyOverTheLimit() throws {
        try withServer(maxBodyBytes: 1000) { server, _ in
            let client = try TestHTTPClient(port: server.port)
            // Only the head is sent: the answer must come without the body.
            try client.send("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(client.isClosedByServer())
        }
    }

    @Test func closesAChunkedUploadThatPassesTheLimit() throws {
        try withServer(maxBodyBytes: 1000) { server, _ in
            let client = try TestHTTPClient(port: server.port)
            let chunk = String(repeating: "y", count: 600)
            try client.send(
                "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n")
            #expect(client.isClosedByServer())
        }
    }

    @Test func receivesAChunkedBody() throws {
        try withServer { server, _ in
            let client = try TestHTTPClient(port: server.port)
            try client.send(
                "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            #expect(try client.readResponse().text == "PUT /echo\nabcde")
        }
    }

    @Test func closesAConnectionIdleForTheTimeout() throws {
        try withServer(limits: (connections: 100, threads: 1, idleTimeout: .seconds(1))) { server, _ in
            let client = try TestHTTPClient(port: server.port, timeout: .seconds(5))
            #expect(try client.request("GET", "/echo").status == 200)
            let idle = ContinuousClock.now
            // Blocks until the server closes the connection (or the 5 s read timeout).
            #expect(client.isClosedByServer())
            let waited = ContinuousClock.now - idle
            #expect(waited >= .milliseconds(900) && waited < .seconds(4))
        }
    }
}
