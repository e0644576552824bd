import Keyspace

/// The cache's operations on string values: read, write, delete.
enum Cache {
    /// Reads a value with its version; not found when absent or expired.
    struct Read: Operation {
        /// The key to read.
        let key: Key

        var requirement: Requirement { .on(.read, key) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Versioned<Payload>> {
            guard let stored = try operations.store.value(forKey: key) else {
                throw GatewayError.notFound("No value at the key '\(key)'.")
            }
            return .now(stored)
        }

        func isChange(_ output: Versioned<Payload>) -> Bool { false }
    }

    /// Writes a value, if its condition holds; a persistent one without a time to live.
    struct Write: Operation {
        /// The key to write.
        let key: Key
        /// The bytes and their media type.
        let value: Payload
        /// When it expires from now; `nil` for never.
        let timeToLive: Duration?
        /// What must hold first (`If-Match`, `If-None-Match`).
        let condition: WriteCondition

        var requirement: Requirement { .on(.write, key) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<WriteOutcome> {
            .now(
                try operations.store.setValue(
                    value, forKey: key, timeToLive: timeToLive, condition: condition))
        }

        func isChange(_ output: WriteOutcome) -> Bool { true }
    }

    /// Deletes a value, if its condition holds; not found when absent.
    struct Delete: Operation {
        /// The key to delete.
        let key: Key
        /// What must hold first.
        let condition: WriteCondition

        var requirement: Requirement { .on(.write, key) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<Void> {
            guard try operations.store.removeValue(forKey: key, condition: condition) else {
                throw GatewayError.notFound("No value at the key '\(key)'.")
            }
            return .now(())
        }

        func isChange(_ output: Void) -> Bool { true }
    }
}
