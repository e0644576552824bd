import Logging

import struct Synchronization.Atomic

/// The loops that serve a server's upgraded sockets, one per worker thread (by default one per
/// core), so that sending to ten thousand WebSockets uses every core and not one.
///
/// Each socket lives on one loop for its whole life, the one serving the fewest sockets when it
/// arrived: its handler is called on that loop's thread only, and sockets of different loops
/// are served at the same time.
final class UpgradeLoops: Sendable {
    private let loops: [UpgradeLoop]

    /// `count` loops, each as `UpgradeLoop.init` describes.
    init(count: Int, maxBufferedBytes: Int, closeTimeout: Duration, logger: Logger) throws(HTTPServerError) {
        precondition(count > 0, "a server has at least one loop for upgraded sockets")
        var loops: [UpgradeLoop] = []
        for index in 0..<count {
            loops.append(
                try UpgradeLoop(
                    name: "keygate-upgraded-\(index)", maxBufferedBytes: maxBufferedBytes,
                    closeTimeout: closeTimeout, logger: logger))
        }
        self.loops = loops
    }

    /// Upgraded sockets handed to a loop and not yet finished; shutdown waits for zero. O(loops).
    var openCount: Int {
        loops.reduce(0) { $0 + $1.openCount.load(ordering: .acquiring) }
    }

    /// Starts every loop's thread.
    func start() {
        for loop in loops {
            loop.start()
        }
    }

    /// Hands an upgraded connection to the loop serving the fewest sockets, on libmicrohttpd's
    /// thread; as `UpgradeLoop.open`. O(loops).
    func open(descriptor: Int32, handle: UpgradeResponseHandle, handler: any UpgradeHandler, input: [UInt8]) {
        let loop = loops.min { $0.openCount.load(ordering: .relaxed) < $1.openCount.load(ordering: .relaxed) }
        loop?.open(descriptor: descriptor, handle: handle, handler: handler, input: input)
    }

    /// Tells every handler, now and later, that the server stops; returns at once.
    func beginStopping() {
        for loop in loops {
            loop.beginStopping()
        }
    }

    /// Finishes every socket still open and stops every loop; waits for them. Idempotent.
    func stop() {
        for loop in loops {
            loop.stop()
        }
    }
}
