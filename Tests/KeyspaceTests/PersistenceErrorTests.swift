import Keyspace
import Testing

@Suite("Persistence errors")
struct PersistenceErrorTests {
    @Test(
        arguments: [
            (Duration.seconds(30), "the log was not synced within 30 s"),
            (.milliseconds(250), "the log was not synced within 0.25 s"),
            (.milliseconds(12_500), "the log was not synced within 12.5 s"),
        ])
    func aSyncTimeoutNamesItsSecondsAsTheGatewayShowsThem(timeout: Duration, description: String) {
        #expect(PersistenceError.notSynced(within: timeout).description == description)
    }
}
