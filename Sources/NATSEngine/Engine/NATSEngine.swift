package import CoreMetrics
import FoundationEssentials
import Glibc
package import Keyspace
package import Logging
import Plumbing

import struct Synchronization.Atomic

/// The keyspace on a NATS JetStream cluster, behind the same interface as the built-in engine:
/// several gateways serve one keyspace, replicated by the cluster (R3: an acknowledged change
/// survives the loss of a server).
///
/// Five streams hold it (see `Names`): the value stream (the last record of each key:
/// `Record`), the work-queue stream of queue messages (a durable pull consumer per queue,
/// whose deliveries are also the leases and moves: `NATSEngine+Leases`, `NATSEngine+Moves`),
/// the stream of delayed messages (`NATSEngine+Delays`), the settings stream (the receipt
/// key), and the event stream, whose sequences are the events' ids across gateways. Each
/// gateway watches the value stream (headers only) into a `KeyIndex`, which lists keys and
/// hides each one at its deadline to the millisecond, and reads the event stream into its own
/// history for its subscribers. Reads and writes go to the streams' leaders: a write
/// acknowledged on one gateway is read on any other.
///
/// The interface is synchronous, so an operation holds its caller's thread for its round
/// trips (one for a read, two for a write); give the HTTP server threads accordingly.
package final class NATSEngine: KeyspaceStore {
    let configuration: Configuration
    let names: Names
    let clock: any KeyspaceClock
    let logger: Logger
    let connection: NATSConnection
    let jetStream: JetStream
    private let index: KeyIndex
    private let log: EventLog
    /// Expirations told at their deadline, until their copies come back from the event stream.
    private let ahead = AheadExpirations(capacity: 65_536)
    let outbox: EventOutbox
    private let waiters = PullWaiters()
    /// What this gateway knows of the leases every gateway gave out.
    let leases = LeaseBook()
    /// The queues' policies, as last read from their consumers.
    let policies = Mutex<[Key: QueuePolicy]>([:])
    /// Messages JetStream stopped delivering, to be moved to their dead-letter queues.
    let deadLetters = Mutex<[DeadLetterJob]>([])
    let deadLetterer = WorkerThread(name: "keygate-nats-deadletters")
    /// The ends of the last leases policies allow, given out here.
    let leaseEnds = DeadlineQueue(name: "keygate-nats-leases")
    /// The delayed messages of every gateway, by due time.
    let delayed = DelayedMessages()
    let delayer = WorkerThread(name: "keygate-nats-delays")
    /// Signs and reads lease receipts, with the key every gateway of the deployment shares.
    private let signer = Mutex<ReceiptSigner?>(nil)
    /// Where the answers to this gateway's pull requests and event publications come; also the
    /// gateway's name in what it writes.
    let inbox: String
    private let expirer = WorkerThread(name: "keygate-nats-expirer")
    private let connector = WorkerThread(name: "keygate-nats-setup")
    private let link = LinkState()
    /// The set-up steps done: a set-up that failed part way (a request timed out on a loaded
    /// cluster) is retried from the first step not done, so that no subscription is made twice
    /// and the event history is started once.
    private let setUpSteps = Mutex(SetUpSteps())
    /// The queue consumers known to exist, and when each was last made sure of.
    private let consumers = Mutex<[String: ContinuousClock.Instant]>([:])
    private let expiryLateness: Timer
    let visibilityLateness: Timer
    /// Deliveries of a message whose earlier lease ended unacknowledged, given out here.
    let redeliveries: Counter
    /// Messages this gateway moved to a dead-letter queue.
    let deadLettered: Counter
    private let expirations: Counter

    /// Connects to the cluster (in the background, should it be out of reach: operations then
    /// fail with `.unreachable` until it answers); call `start()` to set up the streams and
    /// watches and serve.
    package init(
        configuration: Configuration, clock: any KeyspaceClock = SystemClock(), logger: Logger,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws(KeyspaceError) {
        self.configuration = configuration
        names = Names(prefix: configuration.prefix)
        self.clock = clock
        self.logger = logger
        log = EventLog(capacity: configuration.eventHistory)
        expiryLateness = Timer(label: KeyspaceEngine.expiryLatenessLabel, factory: metrics)
        visibilityLateness = Timer(label: KeyspaceEngine.visibilityLatenessLabel, factory: metrics)
        redeliveries = Counter(label: "keygate_redeliveries_total", factory: metrics)
        deadLettered = Counter(label: "keygate_dead_lettered_total", factory: metrics)
        expirations = Counter(label: "keygate_keys_expired_total", factory: metrics)
        let link = self.link
        let connector = self.connector
        do {
            connection = try NATSConnection.open(
                NATSConnection.Options(
                    urls: configuration.urls, credentialsFile: configuration.credentialsFile,
                    trustedCertificates: configuration.trustedCertificates, name: "keygate")
            ) { connected in
                link.isConnected.store(connected, ordering: .releasing)
                // Serving again waits for the streams to answer after a reconnection.
                link.isVerified.store(false, ordering: .releasing)
                connector.wake()
            }
        } catch {
            throw .unreachable(error.description)
        }
        jetStream = JetStream(connection: connection, timeout: configuration.requestTimeout)
        inbox = connection.makeInbox()
        index = KeyIndex(gateway: inbox, standInDelay: Self.standInDelay)
        outbox = EventOutbox(
            connection: connection, subject: names.eventSubject, inbox: "\(inbox).a", metrics: metrics)
        if connection.isConnected {
            link.isConnected.store(true, ordering: .releasing)
        }
    }

    // MARK: Life

    /// Sets up the streams, the watch and the event feed as soon as the cluster answers
    /// (retrying in the background), then serves; idempotent.
    package func start() {
        log.start()
        outbox.start()
        connector.start { [self] in
            guard link.isConnected.load(ordering: .acquiring) else {
                return .untilWokenOrAfter(.milliseconds(250))
            }
            let isSetUp = link.isSetUp.load(ordering: .acquiring)
            let wasVerified = link.isVerified.load(ordering: .acquiring)
            do {
                if isSetUp {
                    try verify()
                } else {
                    try setUp()
                    link.isSetUp.store(true, ordering: .releasing)
                }
                link.isVerified.store(true, ordering: .releasing)
                if !wasVerified {
                    logger.notice(
                        "NATS cluster ready",
                        metadata: [
                            "prefix": "\(names.prefix)",
                            "servers": "\(configuration.urls.joined(separator: ","))",
                        ])
                }
                // Looked at again every few seconds: a cluster that lost its quorum keeps the
                // connection but answers nothing.
                return .untilWokenOrAfter(Self.healthInterval)
            } catch {
                link.isVerified.store(false, ordering: .releasing)
                logger.warning("NATS cluster not ready: \(error)")
                return .untilWokenOrAfter(.milliseconds(250))
            }
        }
        expirer.start { [self] in
            expireDueKeys()
        }
        deadLetterer.start { [self] in
            moveDeadLetters()
        }
        leaseEnds.start()
        delayer.start { [self] in
            revealDueMessages()
        }
    }

    /// Stops the threads and closes the connection; idempotent.
    package func stop() {
        expirer.stop()
        deadLetterer.stop()
        leaseEnds.stop()
        delayer.stop()
        connector.stop()
        outbox.stop()
        log.stop()
        connection.close()
    }

    /// Why operations are refused now, if they are.
    package var unavailability: KeyspaceError? {
        guard link.isConnected.load(ordering: .acquiring) else {
            return .unreachable("no server of the NATS cluster answers")
        }
        guard link.isVerified.load(ordering: .acquiring) else {
            return .unreachable("the keyspace's streams on the NATS cluster do not answer yet")
        }
        return nil
    }

    /// The header field of a status message that names the subject its request went to.
    private static let statusSubjectField = "Nats-Subject"

    /// How often the streams are asked whether they answer.
    private static let healthInterval = Duration.seconds(2)
    /// How long the gateways that did not write a key wait, past its deadline, for the
    /// `expired` of the one that did before they publish it themselves; and likewise for the
    /// end of a delayed push.
    static let standInDelay = Duration.seconds(1)

    /// Asks each stream for its state: they have leaders and answer.
    private func verify() throws(NATSError) {
        for stream in [names.valueStream, names.queueStream, names.delayedStream, names.eventStream] {
            _ = try jetStream.streamInfo(stream)
        }
    }

    /// The string keys this gateway's index holds.
    package var stringCount: Int { index.stringCount }

    /// The pops parked on this gateway.
    package var waitingCount: Int { waiters.total }

    /// The id of the newest event this gateway has read from the event stream.
    package var lastReadEventID: UInt64 { log.lastID }

    /// The queues holding messages, and the messages of every queue by state; `nil` when the
    /// cluster cannot be asked. Two requests (the queue and delayed streams' states); the
    /// leases running are those of the lease book, which every gateway's notices fill.
    package func queueLevels() -> (queues: Int, messages: MessageCounts)? {
        guard
            let queued = try? jetStream.streamInfo(names.queueStream),
            let delayed = try? jetStream.streamInfo(names.delayedStream)
        else { return nil }
        let inFlight = min(leases.runningCount(now: clock.now()), Int(queued.state.messages))
        let messages = MessageCounts(
            visible: Int(queued.state.messages) - inFlight, inFlight: inFlight,
            delayed: Int(delayed.state.messages))
        return (Int(queued.state.subjectCount ?? 0), messages)
    }

    /// Creates the streams (or finds them), listens on the inbox, then starts the event feed
    /// and the watch of values.
    private func setUp() throws(NATSError) {
        let replicas = try createStreams()
        logger.info("NATS streams ready", metadata: ["replicas": "\(replicas)"])
        if connection.maxPayload < configuration.maxValueBytes + 4096 {
            logger.warning(
                "The NATS servers take messages of at most max_payload bytes, less than --max-body-bytes: larger values and messages will be refused with a 503",
                metadata: ["max_payload": "\(connection.maxPayload)"])
        }
        let done = setUpSteps.withLock { $0 }
        if !done.isListeningForAnswers {
            try connection.subscribe("\(inbox).a.*") { [weak self] message in
                self?.answerArrived(message)
            }
            setUpSteps.withLock { $0.isListeningForAnswers = true }
        }
        if !done.isReadingReceiptKey {
            let key = try receiptKey()
            signer.withLock { $0 = ReceiptSigner(key: key) }
            setUpSteps.withLock { $0.isReadingReceiptKey = true }
        }
        if !done.isHearingLeases {
            try connection.subscribe(names.leaseSubjects) { [weak self] message in
                self?.leaseNoticeArrived(message)
            }
            try connection.subscribe(names.lastDeliveryAdvisories) { [weak self] message in
                self?.lastDeliveryArrived(message)
            }
            setUpSteps.withLock { $0.isHearingLeases = true }
        }
        if !done.isReadingEvents {
            let last = try jetStream.streamInfo(names.eventStream).state.lastSeq
            let capacity = UInt64(configuration.eventHistory)
            let first = last >= capacity ? last - capacity + 1 : 1
            log.resume(after: first - 1)
            try connection.orderedConsumer(
                stream: names.eventStream, subject: names.eventSubject, start: .sequence(first),
                headersOnly: false
            ) { [weak self] message in
                self?.eventArrived(message)
            }
            setUpSteps.withLock { $0.isReadingEvents = true }
        }
        if !done.isWatchingDelays {
            try connection.orderedConsumer(
                stream: names.delayedStream, subject: names.delayedSubjects, start: .sequence(1),
                headersOnly: true
            ) { [weak self] message in
                self?.delayedArrived(message)
            }
            setUpSteps.withLock { $0.isWatchingDelays = true }
        }
        if !done.isWatchingValues {
            try connection.orderedConsumer(
                stream: names.valueStream, subject: names.valueSubjects, start: .lastPerSubject,
                headersOnly: true
            ) { [weak self] message in
                self?.recordArrived(message)
            }
            setUpSteps.withLock { $0.isWatchingValues = true }
        }
    }

    /// Creates the three streams with the replicas asked for, or 3 falling back to 1 on a
    /// smaller cluster; returns the replicas used.
    private func createStreams() throws(NATSError) -> Int {
        let wanted = configuration.replicas ?? 3
        do {
            try createStreams(replicas: wanted)
            return wanted
        } catch let error where configuration.replicas == nil && wanted > 1 {
            logger.warning("Streams with 3 replicas refused (\(error)); using 1")
            try createStreams(replicas: 1)
            return 1
        }
    }

    private func createStreams(replicas: Int) throws(NATSError) {
        try jetStream.createStream(
            StreamConfiguration(
                name: names.valueStream, subjects: [names.valueSubjects], numReplicas: replicas,
                maxMsgsPerSubject: 1, allowMsgTtl: true))
        try jetStream.createStream(
            StreamConfiguration(
                name: names.queueStream, subjects: [names.queueSubjects], retention: "workqueue",
                numReplicas: replicas))
        try jetStream.createStream(
            StreamConfiguration(
                name: names.delayedStream, subjects: [names.delayedSubjects], numReplicas: replicas))
        try jetStream.createStream(
            StreamConfiguration(
                name: names.settingStream, subjects: [names.settingSubjects], numReplicas: replicas,
                maxMsgsPerSubject: 1))
        try jetStream.createStream(
            StreamConfiguration(
                name: names.eventStream, subjects: [names.eventSubject], numReplicas: replicas,
                maxMsgs: Int64(configuration.eventHistory), duplicateWindow: 120_000_000_000))
    }

    /// The key that signs lease receipts: the one on the cluster, or a new one put there by
    /// the first gateway (the stream's leader takes one of two gateways starting together).
    private func receiptKey() throws(NATSError) -> [UInt8] {
        while true {
            if let stored = try jetStream.lastMessage(names.settingStream, subject: names.receiptKeySubject),
                stored.body.count == ReceiptSigner.keyLength
            {
                return stored.body
            }
            do {
                _ = try jetStream.publish(
                    names.receiptKeySubject, headers: [Record.Field.expectedSequence: "0"],
                    body: ReceiptSigner.makeKey())
            } catch let error where error.isJetStream(NATSError.wrongLastSubjectSequence) {
                // Another gateway put one first: read it.
            }
        }
    }

    // MARK: Values

    package func value(forKey key: Key) throws(KeyspaceError) -> Versioned<Payload>? {
        try requireAvailable()
        let now = clock.now()
        if let record = try read(key), record.kind == .string, record.isLive(at: now),
            let payload = record.payload
        {
            return Versioned(payload, version: record.version)
        }
        try refuseQueue(key)
        return nil
    }

    package func setValue(
        _ value: Payload, forKey key: Key, timeToLive: Duration?, condition: WriteCondition
    ) throws(KeyspaceError) -> WriteOutcome {
        if let timeToLive {
            try TimeToLive.validate(timeToLive)
        }
        try requireAvailable()
        var isFirstAttempt = true
        return try retryingConflicts(key) { () throws(KeyspaceError) -> WriteOutcome? in
            let now = clock.now()
            // First from what the index knows (one round trip for a key it holds, two for a new
            // one); the stream's leader refuses the write if the index was behind, and then
            // the key is read.
            let isGuessing = isFirstAttempt && index.isWatching
            isFirstAttempt = false
            let guess = isGuessing ? index.entry(key) : nil
            let current: (sequence: UInt64, live: Version?)
            if let guess, guess.kind == .string, guess.deadline.map({ now < $0 }) ?? true {
                current = (guess.sequence, guess.version)
            } else if isGuessing && guess == nil {
                current = (0, nil)
            } else {
                let record = try read(key)
                let live = record.flatMap { $0.isLive(at: now) && $0.kind == .string ? $0 : nil }
                current = (record?.sequence ?? 0, live?.version)
            }
            if current.live == nil {
                try refuseQueue(key)
            }
            guard condition.isSatisfied(byCurrent: current.live) else {
                // What the index said may be old: only what the stream's leader says refuses.
                guard !isGuessing else { return nil }
                throw .conditionFailed(key: key)
            }
            let deadline = timeToLive.map { now + $0 }
            let headers = Record.headers(
                .string, at: now, deadline: deadline, expected: current.sequence,
                contentType: value.contentType)
            guard let sequence = try write(key, headers: headers, body: value.bytes) else { return nil }
            index.apply(
                Record(sequence: sequence, headers: headers, body: value.bytes)!, key: key, fromWatch: false)
            expirer.wake()
            outbox.publish(.set, key: key, time: now, id: "kv-\(sequence)")
            return current.live == nil ? .created(Version(sequence)) : .replaced(Version(sequence))
        }
    }

    package func removeValue(forKey key: Key, condition: WriteCondition) throws(KeyspaceError) -> Bool {
        try requireAvailable()
        return try retryingConflicts(key) { () throws(KeyspaceError) -> Bool? in
            let now = clock.now()
            let current = try read(key)
            let live = current.flatMap { $0.isLive(at: now) && $0.kind == .string ? $0 : nil }
            if live == nil {
                try refuseQueue(key)
            }
            guard condition.isSatisfied(byCurrent: live?.version) else { throw .conditionFailed(key: key) }
            guard let live else { return false }
            guard try delete(key, sequence: live.sequence, at: now) else { return nil }
            outbox.publish(.del, key: key, time: now, id: "kv-del-\(live.sequence)")
            return true
        }
    }

    package func timeToLive(forKey key: Key) throws(KeyspaceError) -> TimeToLive? {
        try requireAvailable()
        let now = clock.now()
        let record = try read(key).flatMap { $0.isLive(at: now) ? $0 : nil }
        if record?.kind != .string {
            guard try queueLength(key) > 0 else { return nil }
        }
        guard let deadline = record?.deadline else { return .persistent }
        return .remaining(deadline - now)
    }

    package func setTimeToLive(_ timeToLive: Duration?, forKey key: Key) throws(KeyspaceError) -> Bool {
        if let timeToLive {
            try TimeToLive.validate(timeToLive)
        }
        try requireAvailable()
        return try retryingConflicts(key) { () throws(KeyspaceError) -> Bool? in
            let now = clock.now()
            let current = try read(key)
            let live = current.flatMap { $0.isLive(at: now) ? $0 : nil }
            let deadline = timeToLive.map { now + $0 }
            let type: KeyspaceEventType = timeToLive == nil ? .persist : .expire
            if let live, live.kind == .string, let payload = live.payload {
                if timeToLive == nil && live.deadline == nil { return true }
                let headers = Record.headers(
                    .string, at: now, deadline: deadline, expected: live.sequence, version: live.version,
                    contentType: payload.contentType)
                guard let sequence = try write(key, headers: headers, body: payload.bytes) else { return nil }
                index.apply(
                    Record(sequence: sequence, headers: headers, body: payload.bytes)!, key: key,
                    fromWatch: false)
                expirer.wake()
                outbox.publish(type, key: key, time: now, id: "kv-\(sequence)")
                return true
            }
            // A queue: its time to live is a record of its own in the value stream.
            guard try queueLength(key) > 0 else { return false }
            guard let deadline else {
                guard let live, live.deadline != nil else { return true }
                guard try delete(key, sequence: live.sequence, at: now) else { return nil }
                outbox.publish(.persist, key: key, time: now, id: "kv-del-\(live.sequence)")
                return true
            }
            let headers = Record.headers(
                .queue, at: now, deadline: deadline, expected: current?.sequence ?? 0)
            guard let sequence = try write(key, headers: headers, body: []) else { return nil }
            index.apply(Record(sequence: sequence, headers: headers, body: [])!, key: key, fromWatch: false)
            expirer.wake()
            outbox.publish(.expire, key: key, time: now, id: "kv-\(sequence)")
            return true
        }
    }

    package func keys(prefix: [UInt8], after cursor: Key?, limit: Int) throws(KeyspaceError) -> KeyPage {
        try requireAvailable()
        try awaitWatch()
        let now = clock.now()
        let strings = index.strings(prefix: prefix, after: cursor, limit: limit, now: now)
        var rows = strings.rows.map { key, entry in
            KeyInfo(
                key: key, type: .string,
                timeToLive: entry.deadline.map { .remaining($0 - now) } ?? .persistent, bytes: entry.size)
        }
        var more = strings.more
        for (queue, length) in try queueLengths(prefix: prefix, after: cursor) {
            let deadline = index.entry(queue).flatMap { $0.kind == .queue ? $0.deadline : nil }
            if let deadline, deadline <= now { continue }
            rows.append(
                KeyInfo(
                    key: queue, type: .queue,
                    timeToLive: deadline.map { .remaining($0 - now) } ?? .persistent,
                    bytes: try queueBytes(queue), length: length))
        }
        rows.sort { $0.key < $1.key }
        if rows.count > limit {
            rows.removeLast(rows.count - limit)
            more = true
        }
        return KeyPage(keys: rows, cursor: more ? rows.last?.key : nil)
    }

    // MARK: Queues

    package func push(_ message: Payload, to queue: Key, delay: Duration?) throws(KeyspaceError)
        -> PushOutcome
    {
        if let delay {
            try QueueLimits.validateDelay(delay)
            if delay > .zero {
                return try pushDelayed(message, to: queue, delay: delay)
            }
        }
        try requireAvailable()
        try refuseString(queue)
        let now = clock.now()
        try ensureConsumer(queue)
        let sequence = try enqueue(message, to: queue, at: now)
        let length = try lengthAfterPush(of: queue, sequence: sequence)
        outbox.publish(.push, key: queue, time: now, id: "push-\(sequence)")
        return .stored(length: length)
    }

    /// Pops, receives and moves: at once, or for `receiver` when every queue is empty, by pull
    /// requests that wait on each queue's consumer; the first message to arrive is the one it
    /// gets.
    package func consume(
        _ consumption: Consumption, from queues: [Key], orWait receiver: (any MessageReceiver)?,
        waitingAtMost limit: Int
    ) throws(KeyspaceError) -> ConsumeOutcome {
        try consumption.validate(from: queues)
        switch consumption {
        case .pop:
            break
        case .receive(let visibility, let count):
            return try receive(
                from: queues, visibility: visibility, limit: count, orWait: receiver, waitingAtMost: limit)
        case .move(let destination):
            return try move(from: queues, to: destination, orWait: receiver, waitingAtMost: limit)
        }
        if let popped = try popNow(from: queues) {
            guard let receiver else { return .delivered(.popped(popped)) }
            guard receiver.claim() else {
                _ = try push(popped.message, to: popped.queue)
                return .gone
            }
            return .delivered(.popped(popped))
        }
        guard let receiver else { return .empty }
        return try park(receiver, for: .pop, on: queues, limit: limit)
    }

    /// Leases messages of the first of `queues` that has some, or parks `receiver` until one
    /// comes (it then gets that one).
    private func receive(
        from queues: [Key], visibility: Duration?, limit count: Int, orWait receiver: (any MessageReceiver)?,
        waitingAtMost limit: Int
    ) throws(KeyspaceError) -> ConsumeOutcome {
        try requireAvailable()
        for queue in queues {
            try refuseString(queue)
        }
        if let handover = try receiveNow(from: queues, visibility: visibility, limit: count) {
            guard let receiver else { return .delivered(handover) }
            guard receiver.claim() else {
                try giveBack(handover)
                return .gone
            }
            return .delivered(handover)
        }
        guard let receiver else { return .empty }
        return try park(
            receiver, for: .receive(visibility: visibility, limit: count), on: queues, limit: limit)
    }

    /// Parks `receiver` on `queues` until a message comes: a pull request on each queue's
    /// consumer answering to a subject of its own.
    func park(
        _ receiver: any MessageReceiver, for consumption: Consumption, on queues: [Key], limit: Int
    ) throws(KeyspaceError) -> ConsumeOutcome {
        var policies: [Key: QueuePolicy] = [:]
        for queue in queues {
            try ensureConsumer(queue)
            if case .receive = consumption {
                policies[queue] = try currentPolicy(of: queue)
            }
        }
        let number = try waiters.register(
            receiver, for: consumption, on: queues, policies: policies, limit: limit)
        let reply = "\(inbox).w\(number)"
        do {
            let subscription = try attempt { () throws(NATSError) in
                try connection.subscribeBriefly(reply) { [weak self] message in
                    self?.messageArrived(message, for: number)
                }
            }
            guard waiters.attach(subscription, to: number) else {
                connection.end(subscription)
                return .waiting
            }
            for queue in queues {
                try requestMessage(from: queue, replyingTo: reply)
            }
            waiters.activate(number)
        } catch {
            cancelWait(receiver)
            throw error
        }
        return .waiting
    }

    package func cancelWait(_ receiver: any MessageReceiver) {
        if let subscription = waiters.cancel(receiver)?.subscription {
            connection.end(subscription)
        }
    }

    /// A popped message goes back to the tail of its queue, not its head (a stream appends);
    /// received messages are released, visible again at their place.
    package func giveBack(_ handover: Handover) throws(KeyspaceError) {
        switch handover {
        case .popped(let popped):
            _ = try push(popped.message, to: popped.queue)
        case .received(let queue, let messages):
            release(messages, of: queue)
        case .moved, .failed:
            break
        }
    }

    /// The queue's messages by state. JetStream counts a message whose lease ended as
    /// delivered until it is delivered again: what the lease book knows ended is counted
    /// visible.
    package func queueInfo(_ queue: Key) throws(KeyspaceError) -> QueueInfo {
        try requireAvailable()
        try refuseString(queue)
        let consumers = waiters.count(on: queue)
        let delayed = try delayedCount(queue)
        guard try storedCount(queue) > 0 else {
            return QueueInfo(length: delayed, consumers: consumers, visible: 0, delayed: delayed)
        }
        let info = try consumerInfo(queue)
        let delivered = Int(info.numAckPending)
        let ended = min(delivered, leases.endedUnacknowledged(in: queue, now: clock.now()))
        return QueueInfo(
            length: Int(info.numPending) + delivered + delayed, consumers: consumers,
            visible: Int(info.numPending) + ended, inFlight: delivered - ended, delayed: delayed)
    }

    package func peek(_ queue: Key, limit: Int) throws(KeyspaceError) -> [QueuedMessage] {
        try requireAvailable()
        try refuseString(queue)
        var messages: [QueuedMessage] = []
        var sequence: UInt64 = 0
        let now = clock.now()
        while messages.count < limit,
            let stored = try attempt({ () throws(NATSError) in
                try jetStream.nextMessage(
                    names.queueStream, subject: names.queueSubject(queue), from: sequence)
            })
        {
            sequence = stored.sequence + 1
            // A peek shows what a pop would take, in line: not the messages on a lease.
            if leases.isLeased(stored.sequence, in: queue, now: now) { continue }
            messages.append(
                QueuedMessage(
                    id: Self.messageID(of: stored.headers, sequence: stored.sequence),
                    message: Self.payload(of: stored.headers, body: stored.body),
                    attempts: Self.earlierAttempts(of: stored.headers),
                    enqueuedAt: Self.pushTime(of: stored.headers) ?? now))
        }
        return messages
    }

    package func removeQueue(_ queue: Key) throws(KeyspaceError) -> Bool {
        try requireAvailable()
        try refuseString(queue)
        guard try queueLength(queue) + delayedCount(queue) > 0 else { return false }
        let now = clock.now()
        try attempt { () throws(NATSError) in
            try jetStream.purge(names.queueStream, subject: names.queueSubject(queue))
        }
        try purgeDelayed(queue)
        dropQueueTimeToLive(queue, at: now)
        outbox.publish(
            .del, key: queue, time: now,
            id: "qdel-\(queue)-\(now.milliseconds)-\(UInt64.random(in: 0...UInt64.max))")
        return true
    }

    // MARK: Events

    /// The newest event id of the cluster (one round trip), or of this gateway's history when
    /// the cluster does not answer: a subscriber starts after it.
    ///
    /// Waits (a little) until this gateway's history holds the events up to it, so that a new
    /// subscriber resuming from an earlier id is replayed what the cluster has, and learns of a
    /// gap only for what the event stream no longer keeps.
    package var lastEventID: UInt64 {
        let local = log.lastID
        guard unavailability == nil,
            let info = try? jetStream.streamInfo(names.eventStream)
        else { return local }
        let last = info.state.lastSeq
        let deadline = ContinuousClock.now + .milliseconds(200)
        while log.lastID < last && ContinuousClock.now < deadline {
            usleep(200)
        }
        return max(local, last)
    }

    /// The history's events after `position`, but the copies of the expirations it names
    /// (told ahead); then, once the history is read through, the expirations told ahead since
    /// the subscriber last looked that it may be told: those it wants, not told yet, whose
    /// record's making it has read (an `expired` never comes before its `set`), while its
    /// position has room to name them. Each event carries the position it brings.
    /// O((events looked at) × ranges named).
    package func events(after position: EventPosition, matching filter: EventFilter, limit: Int) -> EventBatch
    {
        var batch = EventBatch(events: [], lost: nil, cursor: position)
        var announced = position.announced
        // Read again when copies left out of a full read leave room.
        var isFull = true
        while isFull && batch.events.count < limit {
            let wanted = limit - batch.events.count
            let read = log.events(after: batch.cursor.id, matching: filter, limit: wanted)
            // Events lost since the last read come first: the next batch tells of them.
            if read.lost != nil && batch.cursor.id != position.id { break }
            batch.lost = read.lost
            batch.cursor.id = read.cursor.id
            isFull = read.events.count == wanted
            for var event in read.events {
                if event.record != 0 && announced.contains(event.record) {
                    announced.remove(event.record)
                    continue
                }
                event.announced = announced
                batch.events.append(event)
            }
        }
        if batch.events.count < limit && batch.cursor.id >= log.lastID {
            let (entries, cursor) = ahead.entries(
                after: position.aheadCursor, limit: limit - batch.events.count)
            batch.cursor.aheadCursor = cursor
            for entry in entries
            where entry.madeAt <= batch.cursor.id && !announced.contains(entry.event.record)
                && filter.matches(entry.event)
            {
                guard announced.insert(entry.event.record) else { break }
                var event = entry.event
                event.id = batch.cursor.id
                event.announced = announced
                batch.events.append(event)
            }
        }
        batch.cursor.announced = announced
        return batch
    }

    package func subscribe(_ subscriber: any EventSubscriber, filter: EventFilter) {
        log.subscribe(subscriber, filter: filter)
    }

    package func unsubscribe(_ subscriber: any EventSubscriber) {
        log.unsubscribe(subscriber)
    }

    /// Acknowledged changes are on the cluster's disks (replicated): nothing to wait for.
    package func pendingDurability() -> DurabilityTicket? { nil }

    package func whenDurable(
        _ ticket: DurabilityTicket, _ completion: @escaping @Sendable (KeyspaceError?) -> Void
    ) {
        completion(nil)
    }

    /// The cluster keeps the data; no local persistence.
    package var persistenceStatus: PersistenceStatus? { nil }

    // MARK: Arrivals (on the client's delivery threads)

    /// A record from the watch of values.
    private func recordArrived(_ message: NATSMessage) {
        guard let delivery = message.delivery, let key = names.key(ofSubject: message.subject),
            let record = Record(sequence: delivery.streamSequence, headers: message.headers, body: nil)
        else { return }
        if index.apply(record, key: key, fromWatch: true) {
            expirer.wake()
        }
    }

    /// An event from the event stream: into this gateway's history, under its stream sequence.
    private func eventArrived(_ message: NATSMessage) {
        guard let delivery = message.delivery,
            let type = message.headers[Record.Field.event].flatMap(KeyspaceEventType.init(rawValue:)),
            let time = message.headers[Record.Field.time].flatMap({ Int64($0) }),
            let key = try? Key(message.body)
        else { return }
        var event = KeyspaceEvent(
            id: delivery.streamSequence, type: type, key: key, time: Timestamp(milliseconds: time),
            reason: message.headers[Record.Field.reason].flatMap(EventReason.init(rawValue:)))
        if let id = message.headers[Record.Field.messageID] {
            outbox.confirm(id)
            if type == .expired, let record = Self.record(ofExpiryID: id) {
                event.record = record
                // Before it enters the history: a subscriber finds it there or told ahead.
                ahead.copyArrived(record: record)
                // Nothing left for this gateway to do; counted if it had not seen the deadline.
                if index.forget(key, sequence: record) {
                    expirations.increment()
                }
            } else if let record = Self.record(ofChangeID: id) {
                index.noteMade(key, record: record, at: delivery.streamSequence)
            }
        }
        if type == .policy {
            // Set on some gateway: read again when next needed.
            _ = policies.withLock { $0.removeValue(forKey: key) }
        }
        // One the history holds already (the feed started again after a reconnection) changes
        // nothing.
        if log.append(event) {
            log.notifySubscribers()
        }
    }

    /// The stream's answer to an event sent with a reply subject (sent again, or maybe stored
    /// already), on this gateway's inbox (`.a.<id>`).
    private func answerArrived(_ message: NATSMessage) {
        let tokens = message.subject.dropFirst(inbox.count + 1).split(separator: ".")
        if tokens.count == 2, tokens[0] == "a" {
            outbox.acknowledge(String(tokens[1]), message)
        }
    }

    /// A message for parked pop `number` (on its reply subject): delivered if the pop still
    /// waits, else given back to the next pull request in line. Status messages (its pull
    /// request expired: 408) need nothing: the pop's own deadline answers it.
    private func messageArrived(_ message: NATSMessage, for number: UInt64) {
        if message.status == 503, let target = message.headers[Self.statusSubjectField] {
            // Nobody served the pull request: its consumer was just made, and the servers have
            // not all learnt yet where its leader listens. Sent again while the consumer waits
            // (on its own subscription's thread: nothing else waits for this pause).
            usleep(50_000)
            if waiters.isWaiting(number) {
                try? connection.publish(waitingPullRequest(to: target, replyingTo: message.subject))
            }
            return
        }
        guard let reply = message.reply, let delivery = message.delivery,
            let queue = names.key(ofSubject: message.subject)
        else { return }
        guard let waiter = waiters.take(number), waiter.receiver.claim() else {
            try? connection.publish(NATSMessage(subject: reply, body: Array("-NAK".utf8)))
            return
        }
        if let subscription = waiter.subscription {
            // The pop's other pull requests lose their listener, and the servers drop them.
            connection.end(subscription)
        }
        if case .move(let destination) = waiter.consumption {
            // Its own subscription's thread: the round trips hold no other delivery.
            do {
                let moved = try transfer(message, from: queue, to: destination)
                _ = waiter.receiver.deliver(.moved(moved, to: destination), durableAfter: nil)
            } catch {
                try? connection.publish(NATSMessage(subject: reply, body: Array("-NAK".utf8)))
                _ = waiter.receiver.deliver(.failed(error), durableAfter: nil)
            }
            return
        }
        if case .receive(let visibility, _) = waiter.consumption {
            guard let policy = waiter.policies[queue],
                let leased = lease(
                    message, of: queue, visibility: visibility, policy: policy, now: clock.now())
            else {
                try? connection.publish(NATSMessage(subject: reply, body: Array("-NAK".utf8)))
                return
            }
            if !waiter.receiver.deliver(.received(queue: queue, messages: [leased]), durableAfter: nil) {
                release([leased], of: queue)
            }
            return
        }
        let popped = PoppedMessage(
            queue: queue, message: Self.payload(of: message.headers, body: message.body))
        guard waiter.receiver.deliver(.popped(popped), durableAfter: nil) else {
            try? connection.publish(NATSMessage(subject: reply, body: Array("-NAK".utf8)))
            return
        }
        let handedAt = clock.now()
        // Waited for (on its own subscription's thread), so that the message has left the queue
        // before its pop is announced: a client acting on the event finds the queue as it says.
        do {
            try acknowledgeDelivery(replyingTo: reply)
        } catch {
            logger.warning(
                "A message handed to a waiting pop was not acknowledged; the cluster may deliver it again",
                metadata: ["queue": "\(queue)", "error": "\(error)"])
        }
        // Handed to a pop that waited: the queue held nothing before it, so it is no deletion.
        announcePop(queue, message: message, delivery: delivery, emptied: false, at: handedAt)
    }

    // MARK: Expiry

    /// Announces the expiry of the keys due, each once. At its deadline, a string is told
    /// ahead to this gateway's subscribers, and its `expired` published to the event stream
    /// by the gateway that wrote it; a stand-in delay later, by another gateway if it has not
    /// come back from the stream (the writer may be gone). A queue's is published at its
    /// deadline, by the gateway that deletes its record. The expirer's step.
    private func expireDueKeys() -> WorkerThread.Pause {
        let now = clock.now()
        let (due, next) = index.takeDue(now: now, limit: 1024)
        var toldAhead: [KeyspaceEvent] = []
        for (key, entry) in due {
            let deadline = entry.deadline ?? now
            switch entry.kind {
            case .string:
                let isStandIn = entry.isAwaitingCopy
                if !isStandIn && entry.madeAt > 0 {
                    var event = KeyspaceEvent(id: 0, type: .expired, key: key, time: deadline)
                    event.record = entry.sequence
                    ahead.tell(event, madeAt: entry.madeAt)
                    toldAhead.append(event)
                }
                if entry.isWrittenHere || isStandIn {
                    outbox.publish(
                        .expired, key: key, time: deadline, id: Self.expiryID(ofRecord: entry.sequence),
                        standingIn: isStandIn)
                    if !entry.expiresInStorage {
                        _ = try? delete(key, sequence: entry.sequence, at: now)
                    }
                }
                // A stand-in is a second late by design, and its key was counted at its deadline.
                guard !isStandIn else { continue }
            case .queue:
                expireQueue(key, record: entry.sequence, deadline: deadline)
            case .deleted:
                continue
            }
            expirations.increment()
            expiryLateness.recordMilliseconds(max(0, clock.now().milliseconds - deadline.milliseconds))
        }
        log.notify(ahead: toldAhead)
        if due.count == 1024 { return .none }
        guard let next else { return .untilWoken }
        return .untilWokenOrAfter(next - clock.now())
    }

    /// A queue reached its deadline: the gateway that deletes its record (one does, by its
    /// sequence) removes the messages pushed before and announces the expiry.
    private func expireQueue(_ queue: Key, record sequence: UInt64, deadline: Timestamp) {
        do throws(KeyspaceError) {
            let last = try attempt { () throws(NATSError) in
                try jetStream.streamInfo(names.queueStream).state.lastSeq
            }
            guard try delete(queue, sequence: sequence, at: deadline) else { return }
            let length = try queueLength(queue) + delayedCount(queue)
            try attempt { () throws(NATSError) in
                try jetStream.purge(names.queueStream, subject: names.queueSubject(queue), below: last + 1)
            }
            try purgeDelayed(queue)
            if length > 0 {
                outbox.publish(.expired, key: queue, time: deadline, id: Self.expiryID(ofRecord: sequence))
            }
        } catch {
            logger.warning(
                "A queue's expiry could not be completed",
                metadata: ["queue": "\(queue)", "error": "\(error)"])
        }
    }

    /// The de-duplication id of the `expired` of the record of sequence `sequence`: every
    /// gateway that sees that record expire publishes it under this id.
    private static func expiryID(ofRecord sequence: UInt64) -> String {
        "\(expiryIDPrefix)\(sequence)"
    }

    /// The record whose `expired` has de-duplication id `id`, if it is one.
    private static func record(ofExpiryID id: String) -> UInt64? {
        id.hasPrefix(expiryIDPrefix) ? UInt64(id.dropFirst(expiryIDPrefix.count)) : nil
    }

    private static let expiryIDPrefix = "expired-"

    /// The record a write made, from the de-duplication id of its event (`kv-<sequence>`), if
    /// it is one.
    private static func record(ofChangeID id: String) -> UInt64? {
        id.hasPrefix(changeIDPrefix) ? UInt64(id.dropFirst(changeIDPrefix.count)) : nil
    }

    private static let changeIDPrefix = "kv-"

    // MARK: Helpers

    func requireAvailable() throws(KeyspaceError) {
        if let unavailability {
            throw unavailability
        }
    }

    /// Runs a request to the cluster, turning its failure into `.unreachable`.
    func attempt<Value>(_ body: () throws(NATSError) -> Value) throws(KeyspaceError) -> Value {
        do {
            return try body()
        } catch {
            throw .unreachable(error.description)
        }
    }

    /// Runs a conditional change until it is not beaten by a concurrent one (`nil`): at most a
    /// few times, then a 503.
    private func retryingConflicts<Value>(_ key: Key, _ body: () throws(KeyspaceError) -> Value?)
        throws(KeyspaceError) -> Value
    {
        for _ in 0..<16 {
            if let value = try body() {
                return value
            }
        }
        throw .unreachable("the key '\(key)' changed under 16 attempts in a row; try again")
    }

    /// The last record of `key`, from the value stream's leader.
    private func read(_ key: Key) throws(KeyspaceError) -> Record? {
        guard
            let stored = try attempt({ () throws(NATSError) in
                try jetStream.lastMessage(names.valueStream, subject: names.valueSubject(key))
            })
        else { return nil }
        return Record(sequence: stored.sequence, headers: stored.headers, body: stored.body)
    }

    /// Publishes a record of `key`; its sequence, or `nil` when the key changed since it was
    /// read (the expected sequence does not hold).
    private func write(_ key: Key, headers: [String: String], body: [UInt8]) throws(KeyspaceError) -> UInt64?
    {
        var headers = headers
        headers[Record.Field.writer] = inbox
        do {
            return try jetStream.publish(names.valueSubject(key), headers: headers, body: body).seq
        } catch let error where error.isJetStream(NATSError.wrongLastSubjectSequence) {
            return nil
        } catch {
            throw .unreachable(error.description)
        }
    }

    /// Replaces the record of sequence `sequence` at `key` by a deletion; `false` when it was
    /// replaced meanwhile.
    private func delete(_ key: Key, sequence: UInt64, at now: Timestamp) throws(KeyspaceError) -> Bool {
        let headers = Record.headers(.deleted, at: now, deadline: nil, expected: sequence)
        guard let deleted = try write(key, headers: headers, body: []) else { return false }
        index.apply(Record(sequence: deleted, headers: headers, body: [])!, key: key, fromWatch: false)
        return true
    }

    /// Waits (a little) until the watch has delivered everything the value stream held when
    /// asked, so that a listing sees the writes acknowledged on every gateway before it.
    private func awaitWatch() throws(KeyspaceError) {
        let last = try attempt { () throws(NATSError) in
            try jetStream.streamInfo(names.valueStream).state.lastSeq
        }
        let deadline = ContinuousClock.now + .milliseconds(200)
        while index.watchedSequence < last && ContinuousClock.now < deadline {
            usleep(200)
        }
    }

    /// Throws `.wrongType` when `key` holds a queue (messages in the queue stream).
    private func refuseQueue(_ key: Key) throws(KeyspaceError) {
        if try storedCount(key) > 0 {
            throw .wrongType(key: key, actual: .queue)
        }
    }

    /// Throws `.wrongType` when the index holds a live string at `queue`.
    func refuseString(_ queue: Key) throws(KeyspaceError) {
        if let entry = index.entry(queue), entry.kind == .string,
            entry.deadline.map({ clock.now() < $0 }) ?? true
        {
            throw .wrongType(key: queue, actual: .string)
        }
    }

    /// The messages of `queue` (0 when absent), taken or not: what its consumer has yet to
    /// deliver and what it delivered without an acknowledgement (in the stream until then).
    func queueLength(_ queue: Key) throws(KeyspaceError) -> Int {
        guard try storedCount(queue) > 0 else { return 0 }
        let info = try consumerInfo(queue)
        return Int(info.numPending + info.numAckPending)
    }

    /// The length of `queue` once the message of sequence `sequence` was pushed: a message
    /// handed to a parked pop does not count, as on the built-in engine. With no pull request
    /// waiting, the messages the stream holds (but those a pop is taking); with some, the
    /// consumer's leader hands the message over a moment later (it learns of it after the
    /// stream's leader): asked again, for up to 50 ms, until it has, and then what it has yet
    /// to deliver.
    private func lengthAfterPush(of queue: Key, sequence: UInt64) throws(KeyspaceError) -> Int {
        let stored = try storedCount(queue)
        var info = try consumerInfo(queue)
        for _ in 0..<50 {
            if info.delivered.streamSeq >= sequence { return Int(info.numPending) }
            if info.numWaiting == 0 { break }
            usleep(1000)
            info = try consumerInfo(queue)
        }
        return max(0, stored - Int(info.numAckPending))
    }

    /// The state of `queue`'s consumer (created if need be), from its leader.
    func consumerInfo(_ queue: Key) throws(KeyspaceError) -> ConsumerInfo {
        try ensureConsumer(queue)
        return try attempt { () throws(NATSError) in
            try jetStream.consumerInfo(names.queueStream, names.consumer(queue))
        }
    }

    /// The messages the queue stream holds under `queue`'s subject (an acknowledged one may
    /// linger there a moment), from its leader.
    func storedCount(_ queue: Key) throws(KeyspaceError) -> Int {
        let subject = names.queueSubject(queue)
        let info = try attempt { () throws(NATSError) in
            try jetStream.streamInfo(names.queueStream, subjects: subject)
        }
        return Int(info.state.subjects?[subject] ?? 0)
    }

    /// The queues with `prefix` after `cursor` and their lengths. O(queues).
    private func queueLengths(prefix: [UInt8], after cursor: Key?) throws(KeyspaceError) -> [(Key, Int)] {
        let info = try attempt { () throws(NATSError) in
            try jetStream.streamInfo(names.queueStream, subjects: names.queueSubjects)
        }
        var queues: [(Key, Int)] = []
        for (subject, count) in info.state.subjects ?? [:] where count > 0 {
            guard let queue = names.key(ofSubject: subject), queue.hasPrefix(prefix) else { continue }
            if let cursor, !(cursor < queue) { continue }
            queues.append((queue, Int(count)))
        }
        return queues
    }

    /// The bytes of `queue`'s messages: one read per message, at most 1 000 (past those, the
    /// average of the first thousand stands for the rest).
    private func queueBytes(_ queue: Key) throws(KeyspaceError) -> Int {
        var bytes = 0
        var read = 0
        var sequence: UInt64 = 0
        while read < 1000,
            let stored = try attempt({ () throws(NATSError) in
                try jetStream.nextMessage(
                    names.queueStream, subject: names.queueSubject(queue), from: sequence)
            })
        {
            bytes += stored.body.count
            read += 1
            sequence = stored.sequence + 1
        }
        guard read == 1000 else { return bytes }
        let length = try queueLength(queue)
        return bytes + (length - read) * bytes / read
    }

    /// Appends a message to `queue`'s subject; its sequence in the queue stream.
    private func enqueue(_ message: Payload, to queue: Key, at now: Timestamp) throws(KeyspaceError) -> UInt64
    {
        let headers = [
            Record.Field.contentType: HeaderText.encode(message.contentType),
            Record.Field.time: String(now.milliseconds),
        ]
        return try attempt { () throws(NATSError) in
            try jetStream.publish(names.queueSubject(queue), headers: headers, body: message.bytes).seq
        }
    }

    /// Pops the oldest message of the first of `queues` that holds one, or `nil`.
    private func popNow(from queues: [Key]) throws(KeyspaceError) -> PoppedMessage? {
        try requireAvailable()
        for queue in queues {
            try refuseString(queue)
        }
        for queue in queues where try storedCount(queue) > 0 {
            if let popped = try takeNow(from: queue) {
                return popped
            }
        }
        return nil
    }

    /// Takes the oldest message of `queue` if it has one: a pull request that does not wait,
    /// and its acknowledgement (the message leaves the work-queue stream).
    private func takeNow(from queue: Key) throws(KeyspaceError) -> PoppedMessage? {
        try ensureConsumer(queue)
        guard let message = try fetch(upTo: 1, from: queue).first, let reply = message.reply,
            let delivery = message.delivery
        else { return nil }
        try attempt { () throws(NATSError) in try acknowledgeDelivery(replyingTo: reply) }
        announcePop(
            queue, message: message, delivery: delivery, emptied: delivery.pending == 0, at: clock.now())
        return PoppedMessage(queue: queue, message: Self.payload(of: message.headers, body: message.body))
    }

    /// Acknowledges the delivery whose acknowledgement subject is `reply`, and waits for the
    /// consumer's answer: the message leaves the work-queue stream.
    func acknowledgeDelivery(replyingTo reply: String) throws(NATSError) {
        _ = try connection.request(
            NATSMessage(subject: reply, body: Array("+ACK".utf8)), timeout: configuration.requestTimeout)
    }

    /// Sends a pull request for one message of `queue` on behalf of a parked pop, answering to
    /// `reply`, lasting as long as the longest wait.
    private func requestMessage(from queue: Key, replyingTo reply: String) throws(KeyspaceError) {
        try ensureConsumer(queue)
        let request = waitingPullRequest(to: names.nextMessageSubject(queue), replyingTo: reply)
        try attempt { () throws(NATSError) in try connection.publish(request) }
    }

    /// A pull request for one message to `subject`, answering to `reply`, lasting as long as
    /// the longest wait.
    private func waitingPullRequest(to subject: String, replyingTo reply: String) -> NATSMessage {
        let expires = (configuration.maxWait + .seconds(1)).wholeMilliseconds * 1_000_000
        return NATSMessage(
            subject: subject, reply: reply, body: Array(#"{"batch":1,"expires":\#(expires)}"#.utf8))
    }

    /// Creates `queue`'s consumer unless this gateway made sure of it within the hour (a
    /// consumer without a policy is removed once unused for `idleConsumerLifetime`, so one
    /// made sure of more than an hour ago may be gone), and waits until it has a leader.
    func ensureConsumer(_ queue: Key) throws(KeyspaceError) {
        let name = names.consumer(queue)
        if let seen = consumers.withLock({ $0[name] }), ContinuousClock.now - seen < .seconds(3600) { return }
        try attempt { () throws(NATSError) in
            try jetStream.createConsumer(names.queueStream, consumerConfiguration(queue, .standard))
            _ = try JetStream.retryingLeaderless { () throws(NATSError) in
                try jetStream.consumerInfo(names.queueStream, name)
            }
        }
        noteConsumer(queue)
    }

    /// Notes that `queue`'s consumer exists.
    func noteConsumer(_ queue: Key) {
        consumers.withLock { $0[names.consumer(queue)] = .now }
    }

    /// The signer of receipts; `nil` until the key is read from the cluster.
    var receiptSigner: ReceiptSigner? { signer.withLock { $0 } }

    /// Announces a message taken from `queue` at `now`: its `push` first (the same event its
    /// pusher publishes, stored once: so the push always comes before its pop), the `pop`, and a
    /// `del` when the queue is left empty.
    func announcePop(
        _ queue: Key, message: NATSMessage, delivery: NATSMessage.Delivery, emptied: Bool, at now: Timestamp
    ) {
        let pushed = Self.pushTime(of: message.headers) ?? now
        let sequence = delivery.streamSequence
        if delivery.delivered > 1 {
            // A message whose lease ended: its receipts are over.
            tell(LeaseNotice(Self.lease(of: delivery), .acknowledged), about: queue, now: now)
        }
        outbox.publish(.push, key: queue, time: pushed, id: "push-\(sequence)", mayBeStored: true)
        outbox.publish(.pop, key: queue, time: now, id: "pop-\(sequence)")
        if emptied {
            outbox.publish(.del, key: queue, time: now, id: "pop-del-\(sequence)")
            dropQueueTimeToLive(queue, at: now)
        }
    }

    /// Announces `queue`'s deletion under `id` if the message just removed from it (acknowledged
    /// or dead-lettered, which JetStream confirmed) was its last, as the built-in engine does: one
    /// look at its consumer, which counts the messages left as soon as it has answered (the
    /// stream removes the acknowledged one a moment later). A failed look announces nothing and
    /// is logged; the removal stands.
    func announceIfEmptied(_ queue: Key, at now: Timestamp, id: String) {
        let left: ConsumerInfo
        do {
            left = try consumerInfo(queue)
        } catch {
            logger.warning(
                "Whether a queue was emptied could not be read; its del event may be missing",
                metadata: ["queue": "\(queue)", "error": "\(error)"])
            return
        }
        guard left.numPending + left.numAckPending == 0 else { return }
        outbox.publish(.del, key: queue, time: now, id: id)
        dropQueueTimeToLive(queue, at: now)
    }

    /// Deletes the time to live of a queue that was emptied or deleted, without waiting: a new
    /// queue under that name starts without one.
    private func dropQueueTimeToLive(_ queue: Key, at now: Timestamp) {
        guard let entry = index.entry(queue), entry.kind == .queue else { return }
        let headers = Record.headers(.deleted, at: now, deadline: nil, expected: entry.sequence)
        try? connection.publish(NATSMessage(subject: names.valueSubject(queue), headers: headers))
        index.forget(queue)
    }

    /// When a queue message was pushed, from its header.
    static func pushTime(of headers: [String: String]) -> Timestamp? {
        headers[Record.Field.time].flatMap { Int64($0) }.map { Timestamp(milliseconds: $0) }
    }

    static func payload(of headers: [String: String], body: [UInt8]) -> Payload {
        Payload(
            bytes: body,
            contentType: headers[Record.Field.contentType].map(HeaderText.decode)
                ?? Payload.defaultContentType)
    }
}

/// What `NATSEngine.setUp()` has done, step by step.
private struct SetUpSteps {
    var isListeningForAnswers = false
    var isReadingReceiptKey = false
    var isHearingLeases = false
    var isWatchingDelays = false
    var isReadingEvents = false
    var isWatchingValues = false
}

/// Whether the cluster answers, and whether the streams and watches are set up: set from the C
/// client's callbacks and the set-up thread, read by every operation.
private final class LinkState: Sendable {
    let isConnected = Atomic<Bool>(false)
    /// The streams exist and the subscriptions are made (once).
    let isSetUp = Atomic<Bool>(false)
    /// The streams answered since the last connection.
    let isVerified = Atomic<Bool>(false)
}
