import Keyspace
import Testing

@testable import NATSEngine

@Suite struct NamesTests {
    let names = Names(prefix: "KG")

    @Test(arguments: ["user:1", "a.b*c>d e", "café/日本", "%00", String(repeating: "q", count: 1024)])
    func keysBecomeOneSubjectTokenAndBack(text: String) throws {
        let key = try Key(text)
        let subject = names.valueSubject(key)
        let token = subject.dropFirst("KG.kv.".count)
        #expect(!token.contains(where: { ".*> \t".contains($0) }))
        #expect(names.key(ofSubject: subject) == key)
        #expect(names.key(ofSubject: names.queueSubject(key)) == key)
    }

    @Test func streamsAndSubjectsCarryThePrefix() {
        #expect(names.valueStream == "KG_KV")
        #expect(names.queueStream == "KG_QUEUES")
        #expect(names.eventStream == "KG_EVENTS")
        #expect(names.valueSubjects == "KG.kv.>")
        #expect(names.eventSubject == "KG.ev")
    }

    @Test func consumerNamesStayShortAndDistinct() throws {
        let long = try Key(String(repeating: "x", count: 1000))
        let other = try Key(String(repeating: "x", count: 999) + "y")
        #expect(names.consumer(long).utf8.count < 64)
        #expect(names.consumer(long) != names.consumer(other))
        #expect(names.consumer(try Key("jobs")) == "q_am9icw")
    }
}
