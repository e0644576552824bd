import Keyspace
import MicroHTTPD

extension Gateway {
    /// The longest a change waits for the log to be synced before it is answered 503.
    static var durabilityTimeout: Duration { .seconds(30) }

    /// `response` to a request that changed the keyspace, once the change is as durable as the
    /// store promises: at once, or with `--fsync always` parked until the sync that covers it
    /// (libmicrohttpd's thread goes on with other requests meanwhile).
    ///
    /// - Parameter undelivered: called when the answer cannot be sent (the client left, the
    ///   sync failed or took too long), for a pop to give its message back.
    func acknowledged(_ response: HTTPResponse, undelivered: (@Sendable () -> Void)? = nil) -> HTTPAnswer {
        guard let ticket = store.pendingDurability() else { return .respond(response) }
        return .park(
            Parking(
                timeout: Self.durabilityTimeout,
                onPark: { [store] parked in
                    store.whenDurable(ticket) { failure in
                        guard parked.claim() else { return }
                        if let failure {
                            undelivered?()
                            parked.deliver(Problem(failure).response)
                        } else {
                            parked.deliver(response, ifUndelivered: undelivered)
                        }
                    }
                },
                onTimeout: {
                    undelivered?()
                    let failure = PersistenceError.notSynced(within: Self.durabilityTimeout)
                    return Problem(KeyspaceError.unavailable(failure)).response
                },
                onAbandon: undelivered))
    }

    /// Runs `body` once the changes made so far are as durable as the store promises, with the
    /// failure that keeps them from being, if any: at once, or on the store's syncing thread.
    func whenAcknowledged(_ body: @escaping @Sendable (KeyspaceError?) -> Void) {
        guard let ticket = store.pendingDurability() else { return body(nil) }
        store.whenDurable(ticket, body)
    }
}
