package import Gateway
import NATSEngine

// Here rather than in NATSEngine, which must not know the gateway, nor the gateway it.
extension NATSEngine: ServedKeyspace {
    package func startServing(expiring: Bool) {
        start()
    }

    package func stopServing() {
        stop()
    }

    /// This gateway's view: the string keys its index holds, the pops parked on it, the newest
    /// event it has read. Queues are not counted (the cluster would have to be asked).
    package func readLevels(into levels: inout GatewayMetrics.Levels) {
        levels.strings = stringCount
        levels.waitingConsumers = waitingCount
        levels.lastEventID = lastReadEventID
    }
}
