package import Keyspace

/// A keyspace the server runs behind its API: the store the routes reach, its start and stop,
/// and what it counts for `/metrics`. The built-in engine is one; the executable makes others
/// (a NATS cluster's) conform, so that the gateway never imports them.
package protocol ServedKeyspace: KeyspaceStore {
    /// Starts the store's threads; with `expiring` false, keys are expired only when a test
    /// says so (a manual clock).
    func startServing(expiring: Bool)

    /// Stops the store's threads and releases what it holds; after the HTTP server stopped.
    func stopServing()

    /// Adds the store's levels (keys, waiting consumers, newest event) to `levels`.
    func readLevels(into levels: inout GatewayMetrics.Levels)
}

extension KeyspaceEngine: ServedKeyspace {
    package func startServing(expiring: Bool) {
        start(expiring: expiring)
    }

    package func stopServing() {
        stop()
    }

    package func readLevels(into levels: inout GatewayMetrics.Levels) {
        levels.waitingConsumers = waitingCount
        levels.queues = queueCount
        levels.messages = messageCounts
        levels.strings = count - levels.queues
        levels.lastEventID = lastEventID
        if let memory = memoryStatus {
            levels.memoryUsed = memory.used
            levels.memoryLimit = memory.limit
            levels.evictedKeys = memory.evicted
        }
    }
}
