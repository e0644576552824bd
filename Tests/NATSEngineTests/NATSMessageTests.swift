import Testing

@testable import NATSEngine

@Suite struct NATSMessageTests {
    func delivery(_ reply: String?) -> NATSMessage.Delivery? {
        NATSMessage(subject: "KG.q.x", reply: reply).delivery
    }

    @Test func readsTheMetadataOfBothFormsOfTheAcknowledgementSubject() {
        let expected = NATSMessage.Delivery(streamSequence: 42, consumerSequence: 7, delivered: 3, pending: 0)
        #expect(delivery("$JS.ACK.KG_QUEUES.q-x.3.42.7.1733600000123456789.0") == expected)
        #expect(delivery("$JS.ACK.hub.ACCOUNT.KG_QUEUES.q-x.3.42.7.1733600000123456789.0") == expected)
        let largest = NATSMessage.Delivery(
            streamSequence: 9_999_999_999_999_999_999, consumerSequence: 1, delivered: 1, pending: 12_345)
        #expect(delivery("$JS.ACK.S.C.1.9999999999999999999.1.0.12345") == largest)
    }

    @Test func refusesWhatIsNotADeliveryOfAConsumer() {
        #expect(delivery(nil) == nil)
        #expect(delivery("_INBOX.abc.1") == nil)
        #expect(delivery("$JS.ACK.S.C.3.42.7.0") == nil, "eight tokens")
        #expect(delivery("$JS.ACK.S.C.3.42..0.0") == nil, "an empty consumer sequence")
        #expect(delivery("$JS.ACK.S.C.3.4x2.7.0.0") == nil, "not a number")
        #expect(delivery("$JS.ACK.S.C.3.99999999999999999999.7.0.0") == nil, "past 64 bits")
    }
}
