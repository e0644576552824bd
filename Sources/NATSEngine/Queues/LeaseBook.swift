import Keyspace
import Plumbing

/// What the gateways know of the leases of queue messages: for each message leased lately, its
/// latest delivery and whether that lease still runs.
///
/// JetStream acknowledges by message (stream sequence), whatever delivery the acknowledgement
/// names, and keeps no lease end of its own but the redelivery timer. So a receipt whose lease
/// ended would still acknowledge its message, even while another worker holds it on a new
/// lease. Each gateway tells the others (`LeaseNotice`, on a plain NATS subject) of every lease
/// it gives out, extends, releases or acknowledges, and refuses a receipt this book knows to be
/// over. What no gateway heard of (a notice lost, or a gateway started after the lease) is left
/// to JetStream.
final class LeaseBook: Sendable {
    /// Where one message's latest known lease stands.
    private struct Entry {
        /// Its delivery's sequence in the queue's consumer.
        var delivery: UInt64
        var state: LeaseNotice.Change
        /// When the entry may be forgotten.
        var forgetAt: Timestamp
    }

    /// What the book says of a receipt's lease.
    enum Standing: Equatable {
        /// The latest delivery known, and its lease runs.
        case current
        /// A later delivery exists, or the lease ended (passed, released, acknowledged).
        case ended
        /// Nothing is known of this delivery.
        case unknown
    }

    /// How long an entry is kept past its lease's end: a receipt used later than that is left
    /// to JetStream.
    private static let retention = Duration.seconds(120)

    private struct State {
        var queues: [Key: [UInt64: Entry]] = [:]
        var nextPruning = Timestamp(milliseconds: 0)
    }

    private let state = Mutex(State())

    /// Takes in `notice` about `queue`: a later delivery replaces an earlier one, and an ended
    /// lease stays ended. O(1), and now and then O(entries) to forget old ones.
    func apply(_ notice: LeaseNotice, in queue: Key, now: Timestamp) {
        state.withLock { state in
            if now >= state.nextPruning {
                Self.prune(&state, now: now)
            }
            let end: Timestamp =
                switch notice.change {
                case .granted(let until): max(until, now)
                case .released, .acknowledged: now
                }
            let entry = Entry(delivery: notice.delivery, state: notice.change, forgetAt: end + Self.retention)
            guard let known = state.queues[queue]?[notice.message] else {
                state.queues[queue, default: [:]][notice.message] = entry
                return
            }
            if notice.delivery > known.delivery {
                state.queues[queue]?[notice.message] = entry
            } else if notice.delivery == known.delivery, case .granted = known.state {
                // An extension, a release or an acknowledgement of the lease that runs.
                state.queues[queue]?[notice.message] = entry
            }
        }
    }

    /// Where `lease` of `queue` stands.
    func standing(of lease: LeaseReference, in queue: Key, now: Timestamp) -> Standing {
        let delivery = LeaseNotice.delivery(of: lease)
        return state.withLock { state in
            guard let entry = state.queues[queue]?[lease.message], entry.delivery >= delivery else {
                return .unknown
            }
            guard entry.delivery == delivery, case .granted(let until) = entry.state, until > now else {
                return .ended
            }
            return .current
        }
    }

    /// The last change known to `lease` of `queue`; `nil` when none, or when the message was
    /// delivered again since.
    func change(of lease: LeaseReference, in queue: Key) -> LeaseNotice.Change? {
        state.withLock { state in
            guard let entry = state.queues[queue]?[lease.message],
                entry.delivery == LeaseNotice.delivery(of: lease)
            else { return nil }
            return entry.state
        }
    }

    /// Whether message `message` of `queue` is on a lease that runs, as far as the book knows.
    func isLeased(_ message: UInt64, in queue: Key, now: Timestamp) -> Bool {
        state.withLock { state in
            guard case .granted(let until) = state.queues[queue]?[message]?.state else { return false }
            return until > now
        }
    }

    /// The messages of `queue` whose lease ended without an acknowledgement and which are not
    /// delivered again yet: JetStream still counts them as delivered. O(messages of `queue` in
    /// the book).
    func endedUnacknowledged(in queue: Key, now: Timestamp) -> Int {
        state.withLock { state in
            state.queues[queue]?.values.count { entry in
                switch entry.state {
                case .granted(let until): until <= now
                case .released: true
                case .acknowledged: false
                }
            } ?? 0
        }
    }

    /// The leases that run, of every queue. O(messages in the book).
    func runningCount(now: Timestamp) -> Int {
        state.withLock { state in
            state.queues.values.reduce(0) { total, entries in
                total
                    + entries.values.count { entry in
                        guard case .granted(let until) = entry.state else { return false }
                        return until > now
                    }
            }
        }
    }

    /// Forgets the entries past their retention; next done a minute later.
    private static func prune(_ state: inout State, now: Timestamp) {
        for queue in Array(state.queues.keys) {
            state.queues[queue] = state.queues[queue]?.filter { $0.value.forgetAt > now }
            if state.queues[queue]?.isEmpty == true {
                state.queues[queue] = nil
            }
        }
        state.nextPruning = now + .seconds(60)
    }
}

/// One change to a lease, as the gateways tell each other: `<change> <message> <delivery>
/// [<until>]` in ASCII (`g 12 40 1796606512838`, `r 12 40`, `a 12 40`), on the queue's lease
/// subject.
struct LeaseNotice: Equatable, Sendable {
    enum Change: Equatable, Sendable {
        /// Given out or extended, running until then.
        case granted(until: Timestamp)
        /// Released by its worker: the message goes back in line.
        case released
        /// Acknowledged: the message is gone.
        case acknowledged
    }

    /// The message's stream sequence.
    var message: UInt64
    /// The delivery's consumer sequence.
    var delivery: UInt64
    var change: Change

    init(_ lease: LeaseReference, _ change: Change) {
        message = lease.message
        delivery = Self.delivery(of: lease)
        self.change = change
    }

    /// Reads a notice; `nil` for anything else.
    init?(_ bytes: [UInt8]) {
        let words = bytes.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        guard words.count >= 3, let message = UInt64(words[1]), let delivery = UInt64(words[2]) else {
            return nil
        }
        switch (words[0], words.count) {
        case ("g", 4):
            guard let until = Int64(words[3]) else { return nil }
            change = .granted(until: Timestamp(milliseconds: until))
        case ("r", 3):
            change = .released
        case ("a", 3):
            change = .acknowledged
        default:
            return nil
        }
        self.message = message
        self.delivery = delivery
    }

    var bytes: [UInt8] {
        let text =
            switch change {
            case .granted(let until): "g \(message) \(delivery) \(until.milliseconds)"
            case .released: "r \(message) \(delivery)"
            case .acknowledged: "a \(message) \(delivery)"
            }
        return Array(text.utf8)
    }

    /// How a lease's number holds its delivery: the consumer sequence in its upper 40 bits,
    /// the delivery count in its lower 24 (JetStream's acknowledgement subject needs both).
    static func delivery(of lease: LeaseReference) -> UInt64 { lease.lease >> 24 }

    /// The delivery count a lease's number holds.
    static func deliveries(of lease: LeaseReference) -> UInt64 { lease.lease & 0xFF_FFFF }

    /// The lease number of delivery `delivery`, the message's `count`-th.
    static func lease(delivery: UInt64, count: UInt64) -> UInt64 {
        delivery << 24 | min(count, 0xFF_FFFF)
    }
}
