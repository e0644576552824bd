import Keyspace
import MicroHTTPD
import Testing

@testable import Gateway

@Suite("WebSocket requests")
struct WebSocketRequestTests {
    private static func read(_ text: String) throws -> WebSocketRequest {
        try WebSocketRequest(JSONValue.parse(text), limits: OperationLimits())
    }

    @Test func readsASetWithEveryOption() throws {
        let request = try Self.read(
            #"{"id":"a","op":"set","key":"k","valueBase64":"AAE=","contentType":"x/y","ttl":1.5,"ifAbsent":true}"#
        )
        #expect(request.id == .string("a"))
        guard case .set(let write) = request.operation else {
            Issue.record("not a set: \(request.operation)")
            return
        }
        #expect(write.key.text == "k")
        #expect(write.value == Payload(bytes: [0, 1], contentType: "x/y"))
        #expect(write.timeToLive == .milliseconds(1500))
        #expect(write.condition == .ifAbsent)
    }

    @Test func givesTextValuesATextContentType() throws {
        guard case .push(let push) = try Self.read(#"{"op":"push","queue":"q","value":"é"}"#).operation
        else {
            Issue.record("not a push")
            return
        }
        #expect(push.message == Payload(bytes: Array("é".utf8), contentType: "text/plain; charset=utf-8"))
    }

    @Test func keepsLargeIntegerIdsExact() throws {
        #expect(
            try Self.read(#"{"id":9007199254740993,"op":"get","key":"k"}"#).id
                == .integer(9_007_199_254_740_993))
        #expect(
            WebSocketRequest.id(of: JSONValue.parse(#"{"id":[1,{"a":null}]}"#))
                == .array([.integer(1), .object(["a": .null])]))
    }

    @Test func readsPopsAndSubscriptions() throws {
        guard
            case .pop(let pop) = try Self.read(#"{"op":"pop","queues":["a","b"],"wait":2}"#)
                .operation
        else {
            Issue.record("not a pop")
            return
        }
        #expect(pop.queues.map(\.text) == ["a", "b"])
        #expect(pop.wait == .seconds(2))
        let subscribe = try Self.read(
            #"{"op":"subscribe","key":["user:*","a?"],"type":"expired,del","lastEventId":"42"}"#)
        guard case .subscribe(let subscription) = subscribe.operation else {
            Issue.record("not a subscribe")
            return
        }
        #expect(subscription.filter.types == [.expired, .del])
        #expect(subscription.filter.patterns.count == 2)
        #expect(subscription.lastEventID == EventPosition(id: 42))
    }

    /// A request and the start of the error's detail.
    struct Refusal: CustomTestStringConvertible, Sendable {
        let text: String
        let detail: String
        var testDescription: String { text }
    }

    static let refusals: [Refusal] = [
        Refusal(text: "[1,2]", detail: "A request must be a JSON object"),
        Refusal(text: "not json", detail: "A request must be a JSON object"),
        Refusal(text: #"{"id":1}"#, detail: "'op' is required"),
        Refusal(text: #"{"op":"flush"}"#, detail: "Unknown op 'flush'"),
        Refusal(text: #"{"op":"get"}"#, detail: "'key' is required"),
        Refusal(text: #"{"op":"get","key":"k","tll":3}"#, detail: "Unknown member 'tll'"),
        Refusal(text: #"{"op":"get","key":5}"#, detail: "'key' must be a string"),
        Refusal(text: #"{"op":"set","key":"k"}"#, detail: "Give exactly one of 'value'"),
        Refusal(
            text: #"{"op":"set","key":"k","value":"a","valueBase64":"YQ=="}"#, detail: "Give exactly one"),
        Refusal(text: #"{"op":"set","key":"k","valueBase64":"%%%"}"#, detail: "'valueBase64' is not base64"),
        Refusal(text: #"{"op":"set","key":"k","value":"a","ttl":"5"}"#, detail: "'ttl' must be a number"),
        Refusal(
            text: #"{"op":"set","key":"k","value":"a","ifAbsent":true,"ifPresent":true}"#,
            detail: "Give at most one"),
        Refusal(
            text: #"{"op":"set","key":"k","value":"a","contentType":"nope"}"#, detail: "Content-Type must be"),
        Refusal(text: #"{"op":"expire","key":"k"}"#, detail: "'ttl' is required"),
        Refusal(text: #"{"op":"pop","queue":"a","queues":["b"]}"#, detail: "Give 'queue'"),
        Refusal(text: #"{"op":"pop","queues":[]}"#, detail: "A pop names 1 to 64 queues"),
        Refusal(text: #"{"op":"pop","queues":["a","a"]}"#, detail: "A pop names a queue twice"),
        Refusal(text: #"{"op":"pop","queue":"a","wait":61}"#, detail: "'wait' is at most 60 seconds"),
        Refusal(text: #"{"op":"subscribe","type":["nope"]}"#, detail: "'nope' is not an event type"),
        Refusal(text: #"{"op":"subscribe","lastEventId":-1}"#, detail: "'lastEventId' must be an event id"),
        Refusal(text: #"{"op":"unsubscribe"}"#, detail: "'subscription' is required"),
    ]

    @Test(arguments: refusals)
    func refuses(_ refusal: Refusal) {
        #expect {
            try Self.read(refusal.text)
        } throws: { error in
            guard case .badRequest(let detail) = error as? GatewayError else { return false }
            return detail.hasPrefix(refusal.detail)
        }
    }

    @Test func refusesAnInvalidKeyWithTheKeyspacesError() {
        #expect(throws: KeyspaceError.self) {
            try Self.read(#"{"op":"get","key":""}"#)
        }
    }

    @Test func writesJSONWithEscapesAndSortedMembers() {
        let value = JSONValue.object([
            "b": .string("quote \" backslash \\ newline \n bell \u{7}"),
            "a": .array([.null, .bool(false), .number(0.5)]),
        ])
        #expect(value.text == #"{"a":[null,false,0.5],"b":"quote \" backslash \\ newline \n bell \u0007"}"#)
    }
}
