import Logging

import struct Synchronization.Atomic

/// The loops that serve a server's upgraded sockets and the streamed responses they write,
/// one per worker thread (by default one per core), so that sending to ten thousand
/// WebSockets or event streams uses every core and not one.
///
/// Each socket lives on one loop for its whole life, the one serving the fewest sockets when it
/// arrived: its handler is called on that loop's thread only, and sockets of different loops
/// are served at the same time.
final class UpgradeLoops: Sendable {
    private let loops: [UpgradeLoop]

    /// `count` loops, each as `UpgradeLoop.init` describes.
    init(
        count: Int, maxBufferedBytes: Int, closeTimeout: Duration, stallTimeout: Duration, logger: Logger
    ) throws(HTTPServerError) {
        precondition(count > 0, "a server has at least one loop for upgraded sockets")
        var loops: [UpgradeLoop] = []
        for index in 0..<count {
            loops.append(
                try UpgradeLoop(
                    name: "keygate-upgraded-\(index)", maxBufferedBytes: maxBufferedBytes,
                    closeTimeout: closeTimeout, stallTimeout: stallTimeout, logger: logger))
        }
        self.loops = loops
    }

    /// Sockets handed to a loop and not yet finished, streams included; shutdown waits for
    /// zero. O(loops).
    var openCount: Int {
        loops.reduce(0) { $0 + $1.openCount.load(ordering: .acquiring) }
    }

    /// Upgraded connections (WebSockets) open now, streams left out. O(loops).
    var upgradedCount: Int {
        loops.reduce(0) {
            $0 + $1.openCount.load(ordering: .relaxed) - $1.streamCount.load(ordering: .relaxed)
        }
    }

    /// Starts every loop's thread.
    func start() {
        for loop in loops {
            loop.start()
        }
    }

    /// Hands an upgraded connection to the loop serving the fewest sockets, on libmicrohttpd's
    /// thread; as `UpgradeLoop.open`. O(loops).
    func open(
        descriptor: Int32, transport: Int32?, handle: UpgradeResponseHandle, handler: any UpgradeHandler,
        input: [UInt8]
    ) {
        leastLoaded.open(
            descriptor: descriptor, transport: transport, handle: handle, handler: handler, input: input)
    }

    /// Hands a streamed response's suspended connection to the loop serving the fewest sockets,
    /// on libmicrohttpd's thread; as `UpgradeLoop.adopt`. O(loops).
    func adopt(descriptor: Int32, connection: StreamConnection, handler: any UpgradeHandler) {
        leastLoaded.adopt(descriptor: descriptor, connection: connection, handler: handler)
    }

    private var leastLoaded: UpgradeLoop {
        var chosen = loops[0]
        for loop in loops.dropFirst()
        where loop.openCount.load(ordering: .relaxed) < chosen.openCount.load(ordering: .relaxed) {
            chosen = loop
        }
        return chosen
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
