import Keyspace

/// The operations of subscribers to keyspace events.
enum Events {
    /// Where a new subscription starts, and what it hears of.
    struct Subscription: Sendable {
        /// Where the last event it has seen left it: it hears of those after.
        let cursor: EventPosition
        /// What it hears of: what it asked for, within what its caller may subscribe to.
        let filter: EventFilter
    }

    /// A new subscription: after the client's last event id, or after the newest event for a
    /// new subscriber (an id from the future, another server's or from before a restart,
    /// resumes from now); of the events it asks for, only those on keys its caller may
    /// subscribe to, replayed ones included.
    struct Subscribe: Operation {
        /// What the subscriber wants.
        let filter: EventFilter
        /// The id of the last event the client saw, when it resumes.
        let lastEventID: EventPosition?

        var requirement: Requirement { .some(.subscribe) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Subscription> {
            let newest = operations.store.lastEventID
            guard let lastEventID, lastEventID.id <= newest else {
                return .now(Subscription(cursor: EventPosition(id: newest), filter: filter))
            }
            return .now(Subscription(cursor: lastEventID, filter: filter))
        }

        func isChange(_ output: Subscription) -> Bool { false }

        func restrict(_ output: Subscription, to permissions: Permissions) -> Subscription {
            var filter = output.filter
            filter.permitted = permissions.patterns(for: .subscribe)
            return Subscription(cursor: output.cursor, filter: filter)
        }
    }
}
