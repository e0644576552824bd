/// One round of the event notifier, handed to the subscribers it wakes.
///
/// A subscriber that was idle and will now read keeps the round until it has read the events
/// it was woken for (or is finished); the notifier starts its next round once every such
/// subscriber has let go of this one. So a round's wake-ups are served before the next round
/// makes more, and whatever was appended meanwhile reaches each subscriber as one batch: the
/// busier the server, the larger the batches, and an idle server tells each event at once.
/// Letting go is dropping the reference; keeping it costs nothing.
package final class NotificationRound: Sendable {
    private let log: EventLog
    private let number: UInt64

    init(log: EventLog, number: UInt64) {
        self.log = log
        self.number = number
    }

    deinit {
        log.roundEnded(number)
    }
}
