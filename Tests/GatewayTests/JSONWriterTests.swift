import Keyspace
import MicroHTTPD
import Testing

@testable import Gateway

@Suite("JSON writer and WebSocket replies")
struct JSONWriterTests {
    private static func text(_ write: (inout JSONWriter) -> Void) -> String {
        var writer = JSONWriter()
        write(&writer)
        return writer.text
    }

    @Test func writesIntegers() {
        #expect(Self.text { $0.appendInteger(0) } == "0")
        #expect(Self.text { $0.appendInteger(7) } == "7")
        #expect(Self.text { $0.appendInteger(-10) } == "-10")
        #expect(Self.text { $0.appendInteger(Int64.max) } == "9223372036854775807")
        #expect(Self.text { $0.appendInteger(Int64.min) } == "-9223372036854775808")
    }

    @Test func writesNumbersAsSwiftPrintsThem() {
        #expect(Self.text { $0.appendNumber(0.5) } == "0.5")
        #expect(Self.text { $0.appendNumber(1e-7) } == "1e-07")
        #expect(Self.text { $0.appendNumber(-2) } == "-2.0")
        #expect(Self.text { $0.appendNumber(.infinity) } == "null")
        #expect(Self.text { $0.appendNumber(.nan) } == "null")
    }

    @Test func escapesWhatJSONRequires() {
        let text = Self.text {
            $0.appendString("quote \" backslash \\ newline \n tab \t return \r bell \u{7} é")
        }
        #expect(text == #""quote \" backslash \\ newline \n tab \t return \r bell \u0007 é""#)
        #expect(Self.text { $0.appendString("\u{0}\u{1F}\u{7F}") } == #""\u0000\u001f\#u{7F}""#)
    }

    @Test func keepsMembersInTheOrderTheyWereSet() {
        var members: JSONMembers = ["b": .integer(1), "a": .integer(2)]
        members["c"] = .null
        members["b"] = .string("again")
        #expect(members["b"] == .string("again"))
        #expect(
            WebSocketReply.success(.integer(7), members) == #"{"id":7,"ok":true,"b":"again","a":2,"c":null}"#)
        members["a"] = nil
        #expect(members["a"] == nil)
        #expect(WebSocketReply.success(.null, members) == #"{"id":null,"ok":true,"b":"again","c":null}"#)
    }

    @Test func writesRepliesToEachKindOfRequest() throws {
        let text = Payload(bytes: Array("hi".utf8), contentType: "text/plain")
        #expect(WebSocketReply.success(.string("x")) == #"{"id":"x","ok":true}"#)
        #expect(
            WebSocketReply.message(.integer(1), text, from: try Key("q"))
                == #"{"id":1,"ok":true,"value":"hi","contentType":"text/plain","queue":"q"}"#)
        #expect(
            WebSocketReply.success(.integer(2), WebSocketReply.payload(Payload(bytes: [0xFF, 0xFE])))
                == #"{"id":2,"ok":true,"valueBase64":"//4=","contentType":"application/octet-stream"}"#)
        #expect(WebSocketReply.noMessage(.integer(3)) == #"{"id":3,"ok":true,"queue":null,"value":null}"#)
        #expect(
            WebSocketReply.ended(subscription: 4, reason: "Fell \"behind\".")
                == #"{"subscription":4,"ended":true,"reason":"Fell \"behind\"."}"#)
    }

    @Test func writesFailuresAsProblems() {
        let problem = Problem(HTTPError.badRequest("'op' is required."))
        #expect(
            WebSocketReply.failure(.array([.integer(1)]), problem)
                == #"{"id":[1],"ok":false,"error":{"type":"\#(problem.type)","title":"Bad Request","status":400,"detail":"'op' is required."}}"#
        )
    }

    @Test func writesRepliesThatReadBack() {
        let id = JSONValue.object(["nested": .array([.integer(9_007_199_254_740_993), .string("é\n")])])
        let reply = WebSocketReply.success(id, ["etag": .string("\"1\""), "ttl": .number(1.5)])
        #expect(
            JSONValue.parse(reply)
                == .object(["id": id, "ok": .bool(true), "etag": .string("\"1\""), "ttl": .number(1.5)]))
    }
}
