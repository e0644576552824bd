import Keyspace

/// The operations of subscribers to keyspace events.
enum Events {
    /// Where a new subscription starts in the event history: after the client's last event
    /// id, or after the newest event for a new subscriber. An id from the future (another
    /// server's, or from before a restart) resumes from now.
    struct Subscribe: Operation {
        /// What the subscriber wants.
        let filter: EventFilter
        /// The id of the last event the client saw, when it resumes.
        let lastEventID: UInt64?

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<UInt64> {
            let newest = operations.store.lastEventID
            return .now(min(lastEventID ?? newest, newest))
        }

        func isChange(_ output: UInt64) -> Bool { false }
    }
}
