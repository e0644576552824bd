import CoreMetrics
import FoundationEssentials
package import Keyspace
import Logging
import Plumbing

/// Leased receives, acknowledgements, visibility changes, queue policies and dead letters, on
/// each queue's durable consumer.
///
/// A receive is a pull request whose messages are not acknowledged at once: JetStream keeps
/// each as delivered, and delivers it again when its acknowledgement wait has passed. The
/// consumer's `AckWait` is the queue's policy visibility; a receive asking for another one
/// sets its lease's end with a negative acknowledgement delayed that long (`-NAK {"delay": …}`
/// moves the redelivery to then, and the message stays delivered until it). Extending a lease
/// is the same, releasing it a `-NAK` without delay, acknowledging it `+ACK` (waiting for the
/// consumer's answer: the acknowledgement is replicated). `maxReceives` is `MaxDeliver`: the
/// gateway that gives a message its last lease moves it to the dead-letter queue named in the
/// consumer's metadata when that lease ends, JetStream's advisory being the backstop.
extension NATSEngine {
    /// The consumer metadata field that names a queue's dead-letter queue (its subject token).
    static let deadLetterField = "keygate-dead-letter"
    /// How long a queue's consumer without a policy lives unused: past the longest lease.
    static let idleConsumerLifetime = Duration.seconds(13 * 3600)

    // MARK: Receiving

    /// Leases up to `limit` of the oldest visible messages of the first of `queues` that has
    /// some: one pull request that does not wait, its messages left unacknowledged.
    func receiveNow(from queues: [Key], visibility: Duration?, limit: Int) throws(KeyspaceError)
        -> Handover?
    {
        for queue in queues where try storedCount(queue) > 0 {
            let policy = try currentPolicy(of: queue)
            let delivered = try fetch(upTo: limit, from: queue)
            let now = clock.now()
            let messages = delivered.compactMap { message in
                lease(message, of: queue, visibility: visibility, policy: policy, now: now)
            }
            if !messages.isEmpty {
                return .received(queue: queue, messages: messages)
            }
        }
        return nil
    }

    /// Up to `count` of the oldest visible messages of `queue`, delivered to this gateway and
    /// not acknowledged: one pull request that does not wait.
    func fetch(upTo count: Int, from queue: Key) throws(KeyspaceError) -> [NATSMessage] {
        let request = NATSMessage(
            subject: names.nextMessageSubject(queue),
            body: Array(#"{"batch":\#(count),"no_wait":true}"#.utf8))
        return try attempt { () throws(NATSError) in
            try JetStream.retryingLeaderless { () throws(NATSError) in
                try connection.fetch(request, upTo: count, timeout: configuration.requestTimeout)
            }
        }
    }

    /// Makes a delivery of `queue`'s consumer a lease of `visibility` (`nil`: the policy's),
    /// tells the other gateways, and announces it; `nil` for what is no delivery.
    func lease(
        _ message: NATSMessage, of queue: Key, visibility: Duration?, policy: QueuePolicy, now: Timestamp
    ) -> LeasedMessage? {
        guard let reply = message.reply, let delivery = message.delivery, let signer = receiptSigner else {
            return nil
        }
        let length = visibility ?? policy.visibility
        if length != policy.visibility {
            try? connection.publish(
                NATSMessage(subject: reply, body: Self.negativeAcknowledgement(after: length)))
        }
        let reference = Self.lease(of: delivery)
        let until = now + length
        tell(LeaseNotice(reference, .granted(until: until)), about: queue, now: now)
        if let limit = policy.maxReceives, delivery.delivered >= limit {
            watchLastLease(reference, of: queue, endingIn: length)
        }
        let pushed = Self.pushTime(of: message.headers) ?? now
        if delivery.delivered == 1 {
            // The pusher's own event, stored once: so the push comes before its lease.
            outbox.publish(
                .push, key: queue, time: pushed, id: "push-\(delivery.streamSequence)", mayBeStored: true)
        } else {
            redeliveries.increment()
            // Its last lease ended unacknowledged (a release said so already, under this id).
            outbox.publish(
                .release, key: queue, time: now,
                id: Self.releaseID(delivery.streamSequence, delivery.delivered - 1),
                reason: .expired, mayBeStored: true)
        }
        outbox.publish(
            .lease, key: queue, time: now, id: "lease-\(delivery.streamSequence)-\(delivery.consumerSequence)"
        )
        let queued = QueuedMessage(
            id: Self.messageID(of: message.headers, sequence: delivery.streamSequence),
            message: Self.payload(of: message.headers, body: message.body),
            attempts: Self.earlierAttempts(of: message.headers) + Int(delivery.delivered), enqueuedAt: pushed)
        return LeasedMessage(
            queued: queued, receipt: signer.receipt(for: reference, in: queue), visibleUntil: until)
    }

    /// Releases the leases of a receive whose consumer never got them: their messages are
    /// visible again at once (JetStream counts the delivery all the same).
    func release(_ messages: [LeasedMessage], of queue: Key) {
        guard let signer = receiptSigner else { return }
        let now = clock.now()
        for message in messages {
            guard let reference = try? signer.lease(of: message.receipt, in: queue) else { continue }
            try? connection.publish(
                NATSMessage(
                    subject: names.acknowledgementSubject(reference, in: queue), body: Array("-NAK".utf8)))
            announceRelease(reference, of: queue, now: now)
        }
    }

    // MARK: Acknowledging and changing leases

    package func acknowledge(_ receipts: [String], in queue: Key) throws(KeyspaceError) -> [LeaseStatus] {
        try requireAvailable()
        try refuseString(queue)
        let signer = try requireSigner()
        var references: [LeaseReference?] = []
        references.reserveCapacity(receipts.count)
        for receipt in receipts {
            references.append(try signer.lease(of: receipt, in: queue))
        }
        var statuses: [LeaseStatus] = []
        statuses.reserveCapacity(references.count)
        for reference in references {
            guard let reference else {
                statuses.append(.unknown)
                continue
            }
            statuses.append(try acknowledge(reference, in: queue))
        }
        return statuses
    }

    /// Acknowledges one lease, unless it is known to be over.
    private func acknowledge(_ reference: LeaseReference, in queue: Key) throws(KeyspaceError) -> LeaseStatus
    {
        let now = clock.now()
        guard leases.standing(of: reference, in: queue, now: now) != .ended else { return .expired }
        try answerLease(reference, of: queue, with: Array("+ACK".utf8))
        tell(LeaseNotice(reference, .acknowledged), about: queue, now: now)
        outbox.publish(.ack, key: queue, time: now, id: "ack-\(reference.message)")
        announceIfEmptied(queue, at: now, id: "ack-del-\(reference.message)")
        return .acknowledged
    }

    package func changeVisibility(of receipt: String, in queue: Key, to visibility: Duration)
        throws(KeyspaceError) -> Timestamp
    {
        try QueueLimits.validateVisibility(visibility, allowsZero: true)
        try requireAvailable()
        try refuseString(queue)
        guard let reference = try requireSigner().lease(of: receipt, in: queue) else {
            throw .unknownReceipt(queue: queue)
        }
        let now = clock.now()
        guard leases.standing(of: reference, in: queue, now: now) != .ended else {
            throw .leaseExpired(queue: queue)
        }
        guard visibility > .zero else {
            if let limit = try currentPolicy(of: queue).maxReceives,
                LeaseNotice.deliveries(of: reference) >= limit
            {
                try deadLetter(reference.message, of: queue, lease: reference)
                return now
            }
            try answerLease(reference, of: queue, with: Array("-NAK".utf8))
            announceRelease(reference, of: queue, now: now)
            return now
        }
        try answerLease(reference, of: queue, with: Self.negativeAcknowledgement(after: visibility))
        let until = now + visibility
        tell(LeaseNotice(reference, .granted(until: until)), about: queue, now: now)
        return until
    }

    /// Sends `answer` to a lease's delivery, and waits for the consumer to take it.
    private func answerLease(_ reference: LeaseReference, of queue: Key, with answer: [UInt8])
        throws(KeyspaceError)
    {
        let message = NATSMessage(subject: names.acknowledgementSubject(reference, in: queue), body: answer)
        _ = try attempt { () throws(NATSError) in
            try connection.request(message, timeout: configuration.requestTimeout)
        }
    }

    /// Tells every gateway (this one at once) of a released lease, and announces it.
    private func announceRelease(_ reference: LeaseReference, of queue: Key, now: Timestamp) {
        tell(LeaseNotice(reference, .released), about: queue, now: now)
        outbox.publish(
            .release, key: queue, time: now,
            id: Self.releaseID(reference.message, LeaseNotice.deliveries(of: reference)), reason: .released)
    }

    /// Takes in `notice` here, and sends it to the other gateways.
    func tell(_ notice: LeaseNotice, about queue: Key, now: Timestamp) {
        leases.apply(notice, in: queue, now: now)
        try? connection.publish(NATSMessage(subject: names.leaseSubject(queue), body: notice.bytes))
    }

    /// A notice from a gateway (this one's included: applying one twice changes nothing).
    func leaseNoticeArrived(_ message: NATSMessage) {
        guard let queue = names.key(ofSubject: message.subject), let notice = LeaseNotice(message.body) else {
            return
        }
        leases.apply(notice, in: queue, now: clock.now())
    }

    // MARK: Policies

    /// Read from the queue's consumer, not from this gateway's copy: a change made on another
    /// gateway a moment ago is seen.
    package func policy(of queue: Key) throws(KeyspaceError) -> QueuePolicy {
        try requireAvailable()
        try refuseString(queue)
        return try readPolicy(of: queue)
    }

    package func setPolicy(_ policy: QueuePolicy?, of queue: Key) throws(KeyspaceError) -> QueuePolicy {
        let policy = policy ?? .standard
        try policy.validate(for: queue)
        try requireAvailable()
        try refuseString(queue)
        if let deadLetter = policy.deadLetter {
            try refuseString(deadLetter)
        }
        try attempt { () throws(NATSError) in
            try jetStream.createOrUpdateConsumer(names.queueStream, consumerConfiguration(queue, policy))
        }
        noteConsumer(queue)
        policies.withLock { $0[queue] = policy }
        let now = clock.now()
        outbox.publish(
            .policy, key: queue, time: now,
            id: "policy-\(Names.token(queue))-\(now.milliseconds)-\(UInt64.random(in: 0...UInt64.max))")
        return policy
    }

    /// `queue`'s policy, as this gateway last read it from its consumer (a `policy` event
    /// makes it read again).
    func currentPolicy(of queue: Key) throws(KeyspaceError) -> QueuePolicy {
        if let known = policies.withLock({ $0[queue] }) {
            return known
        }
        return try readPolicy(of: queue)
    }

    /// `queue`'s policy, read from its consumer's configuration.
    private func readPolicy(of queue: Key) throws(KeyspaceError) -> QueuePolicy {
        let configuration = try consumerInfo(queue).config
        let deadLetter = configuration.metadata?[Self.deadLetterField].flatMap { Names.key(ofToken: $0[...]) }
        let limit = configuration.maxDeliver.flatMap { $0 > 0 ? $0 : nil }
        let policy = QueuePolicy(
            visibility: .nanoseconds(configuration.ackWait), maxReceives: deadLetter == nil ? nil : limit,
            deadLetter: limit == nil ? nil : deadLetter)
        policies.withLock { $0[queue] = policy }
        return policy
    }

    /// The configuration of `queue`'s consumer under `policy`.
    func consumerConfiguration(_ queue: Key, _ policy: QueuePolicy) -> ConsumerConfiguration {
        let isStandard = policy == .standard
        return ConsumerConfiguration(
            durableName: names.consumer(queue), filterSubject: names.queueSubject(queue),
            ackWait: policy.visibility.wholeNanoseconds, maxDeliver: policy.maxReceives ?? -1,
            maxWaiting: 100_000,
            // A queue with a policy keeps its consumer, so that the policy outlives its messages.
            inactiveThreshold: isStandard ? Self.idleConsumerLifetime.wholeNanoseconds : 0,
            metadata: policy.deadLetter.map { [Self.deadLetterField: Names.token($0)] })
    }

    // MARK: Dead letters

    /// The last lease a queue's policy allows a message ran out `length` from now: at its end,
    /// unless acknowledged, extended or released meanwhile, the message goes to the dead-letter
    /// queue. JetStream (2.15) notices a message past `MaxDeliver` only when the queue is next
    /// asked for, so the gateway that gave the lease does it on time.
    func watchLastLease(_ lease: LeaseReference, of queue: Key, endingIn length: Duration) {
        _ = leaseEnds.schedule(after: length + .milliseconds(5)) { [weak self] in
            self?.queueDeadLetter(.lastLease(lease, queue: queue))
        }
    }

    /// JetStream's advisory of a message delivered as often as its queue's policy allows, and
    /// whose last lease ended: moved to the dead-letter queue, should no gateway have done it.
    func lastDeliveryArrived(_ message: NATSMessage) {
        guard let advisory = try? JSONDecoder().decode(LastDeliveryAdvisory.self, from: Data(message.body))
        else {
            return
        }
        queueDeadLetter(.exhausted(advisory))
    }

    /// Hands `job` to the dead-letter thread (its round trips have no place on the client's
    /// delivery thread or the lease timer's).
    private func queueDeadLetter(_ job: DeadLetterJob) {
        deadLetters.withLock { $0.append(job) }
        deadLetterer.wake()
    }

    /// Moves the messages whose last lease ended to their dead-letter queues; the dead-letter
    /// thread's step.
    func moveDeadLetters() -> WorkerThread.Pause {
        let due = deadLetters.withLock { due in
            defer { due.removeAll() }
            return due
        }
        for (index, job) in due.enumerated() {
            do {
                try perform(job)
            } catch {
                logger.warning(
                    "A message could not be moved to its dead-letter queue; tried again in a second",
                    metadata: ["job": "\(job)", "error": "\(error)"])
                deadLetters.withLock { $0.append(contentsOf: due[index...]) }
                return .untilWokenOrAfter(.seconds(1))
            }
        }
        return .untilWoken
    }

    private func perform(_ job: DeadLetterJob) throws(KeyspaceError) {
        switch job {
        case .lastLease(let lease, let queue):
            let now = clock.now()
            switch leases.change(of: lease, in: queue) {
            case .granted(let until)? where until > now:
                // Extended: looked at again at its new end.
                watchLastLease(lease, of: queue, endingIn: until - now)
            case .granted?:
                try deadLetter(lease.message, of: queue, lease: lease)
            case .released?, .acknowledged?, nil:
                // Released (and dead-lettered then), acknowledged, or delivered again.
                break
            }
        case .exhausted(let advisory):
            guard
                let stored = try attempt({ () throws(NATSError) in
                    try jetStream.message(names.queueStream, sequence: advisory.streamSequence)
                }), let queue = names.key(ofSubject: stored.subject)
            else { return }
            try deadLetter(stored, of: queue, deliveries: advisory.deliveries, lease: nil)
        }
    }

    /// Moves message `sequence` of `queue`, on its last allowed `lease`, to the dead-letter
    /// queue.
    func deadLetter(_ sequence: UInt64, of queue: Key, lease: LeaseReference) throws(KeyspaceError) {
        guard
            let stored = try attempt({ () throws(NATSError) in
                try jetStream.message(names.queueStream, sequence: sequence)
            })
        else { return }
        try deadLetter(stored, of: queue, deliveries: LeaseNotice.deliveries(of: lease), lease: lease)
    }

    /// Appends `stored` to its queue's dead-letter queue (once, whichever gateways do it: its
    /// de-duplication id is the message's), its id and attempts kept, and removes it from its
    /// queue: its lease ended (`+TERM`), or, without one, the message itself.
    private func deadLetter(
        _ stored: StoredMessage, of queue: Key, deliveries: UInt64, lease: LeaseReference?
    )
        throws(KeyspaceError)
    {
        guard let destination = try currentPolicy(of: queue).deadLetter else { return }
        let sequence = stored.sequence
        var headers = [
            Record.Field.messageID: "dead-\(sequence)",
            Record.Field.messageNumber: Self.messageID(of: stored.headers, sequence: sequence),
            Record.Field.attempts: String(Self.earlierAttempts(of: stored.headers) + Int(deliveries)),
        ]
        headers[Record.Field.contentType] = stored.headers[Record.Field.contentType]
        headers[Record.Field.time] = stored.headers[Record.Field.time]
        try ensureConsumer(destination)
        let moved = try attempt { () throws(NATSError) in
            try jetStream.publish(names.queueSubject(destination), headers: headers, body: stored.body)
        }
        let now = clock.now()
        if let lease {
            try answerLease(lease, of: queue, with: Array("+TERM".utf8))
            tell(LeaseNotice(lease, .acknowledged), about: queue, now: now)
        } else {
            let removed = try attempt { () throws(NATSError) in
                try jetStream.deleteMessage(names.queueStream, sequence: sequence)
            }
            guard removed else { return }
        }
        deadLettered.increment()
        outbox.publish(.deadletter, key: queue, time: now, id: "dead-\(sequence)")
        announceIfEmptied(queue, at: now, id: "dead-del-\(sequence)")
        outbox.publish(.push, key: destination, time: now, id: "push-\(moved.seq)")
    }

    // MARK: Helpers

    /// The signer of receipts, once the key is read from the cluster.
    func requireSigner() throws(KeyspaceError) -> ReceiptSigner {
        guard let signer = receiptSigner else {
            throw .unreachable("the receipt key has not been read from the NATS cluster yet")
        }
        return signer
    }

    /// The lease a delivery makes.
    static func lease(of delivery: NATSMessage.Delivery) -> LeaseReference {
        LeaseReference(
            message: delivery.streamSequence,
            lease: LeaseNotice.lease(delivery: delivery.consumerSequence, count: delivery.delivered))
    }

    /// `-NAK` with a delay: the message is delivered again `delay` from now.
    static func negativeAcknowledgement(after delay: Duration) -> [UInt8] {
        Array(#"-NAK {"delay":\#(delay.wholeNanoseconds)}"#.utf8)
    }

    /// The de-duplication id of the `release` of a message's `count`-th lease: the same whether
    /// its worker released it or it was found ended at its next delivery.
    static func releaseID(_ message: UInt64, _ count: UInt64) -> String { "release-\(message)-\(count)" }

    /// A message's id: its stream sequence, or the one it had in the queue it was dead-lettered
    /// from.
    static func messageID(of headers: [String: String], sequence: UInt64) -> String {
        headers[Record.Field.messageNumber] ?? String(sequence)
    }

    /// The leases a message had in the queue it was dead-lettered from.
    static func earlierAttempts(of headers: [String: String]) -> Int {
        headers[Record.Field.attempts].flatMap { Int($0) } ?? 0
    }
}

/// What the dead-letter thread has to look at.
enum DeadLetterJob: Sendable {
    /// The last lease a policy allows, whose end has come.
    case lastLease(LeaseReference, queue: Key)
    /// A message JetStream stopped delivering.
    case exhausted(LastDeliveryAdvisory)
}

/// JetStream's advisory of a message delivered as often as its consumer allows.
struct LastDeliveryAdvisory: Decodable, Sendable {
    var streamSequence: UInt64
    var deliveries: UInt64

    enum CodingKeys: String, CodingKey {
        case streamSequence = "stream_seq"
        case deliveries
    }
}
