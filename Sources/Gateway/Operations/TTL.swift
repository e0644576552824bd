import Keyspace

/// The operations on a key's time to live, whatever its type: read it, set or remove it.
enum TTL {
    /// Reads how long a key has left; not found when absent.
    struct Read: Operation {
        /// The key.
        let key: Key

        var requirement: Requirement { .on(.read, key) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<TimeToLive> {
            guard let timeToLive = try operations.store.timeToLive(forKey: key) else {
                throw GatewayError.notFound("No key '\(key)'.")
            }
            return .now(timeToLive)
        }

        func isChange(_ output: TimeToLive) -> Bool { false }
    }

    /// Sets a key's time to live from now, or removes it (`nil`); not found when absent.
    struct Update: Operation {
        /// The key.
        let key: Key
        /// The new time to live; `nil` makes the key persistent.
        let timeToLive: Duration?

        var requirement: Requirement { .on(.write, key) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Void> {
            guard try operations.store.setTimeToLive(timeToLive, forKey: key) else {
                throw GatewayError.notFound("No key '\(key)'.")
            }
            return .now(())
        }

        func isChange(_ output: Void) -> Bool { true }
    }
}
