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
    /// event it has read; and the cluster's queues and their messages, left at zero when the
    /// cluster cannot be asked.
    package func readLevels(into levels: inout GatewayMetrics.Levels) {
        levels.strings = stringCount
        levels.waitingConsumers = waitingCount
        levels.lastEventID = lastReadEventID
        if let (queues, messages) = queueLevels() {
            levels.queues = queues
            levels.messages = messages
        }
    }
}
