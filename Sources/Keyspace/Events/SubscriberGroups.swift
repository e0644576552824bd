/// The event subscribers of a keyspace, grouped by filter: subscribers that want the same
/// events (a hundred dashboards watching one key pattern) share one group, so that the notifier
/// matches an event once per distinct filter, not once per subscriber.
///
/// A value: the notifier takes a copy of it for each round without copying any array, and a
/// change made meanwhile copies only what it changes. Subscribing and unsubscribing are O(1)
/// amortized, unless a round holds the same storage (then O(subscribers) for the copy).
struct SubscriberGroups {
    /// Subscribers sharing one filter.
    struct Group {
        /// What every subscriber of the group wants.
        let filter: EventFilter
        /// The subscribers, in no particular order.
        fileprivate(set) var subscribers: [any EventSubscriber]
    }

    /// The groups, in no particular order; none is empty.
    private(set) var groups: [Group] = []
    /// Where each filter's group is in `groups`.
    private var groupIndex: [EventFilter: Int] = [:]
    /// Where each subscriber is: its filter, and its place in its group.
    private var places: [ObjectIdentifier: (filter: EventFilter, index: Int)] = [:]

    /// Whether there is no subscriber.
    var isEmpty: Bool { groups.isEmpty }

    /// The number of subscribers. O(1).
    var subscriberCount: Int { places.count }

    /// Adds `subscriber` with `filter`, or moves it to `filter` if it was already in.
    mutating func insert(_ subscriber: any EventSubscriber, filter: EventFilter) {
        remove(subscriber)
        let index: Int
        if let existing = groupIndex[filter] {
            index = existing
            groups[index].subscribers.append(subscriber)
        } else {
            index = groups.count
            groups.append(Group(filter: filter, subscribers: [subscriber]))
            groupIndex[filter] = index
        }
        places[ObjectIdentifier(subscriber)] = (filter, groups[index].subscribers.count - 1)
    }

    /// Removes `subscriber`, if it is in.
    mutating func remove(_ subscriber: any EventSubscriber) {
        guard let place = places.removeValue(forKey: ObjectIdentifier(subscriber)),
            let group = groupIndex[place.filter]
        else { return }
        // Swap-remove: the last subscriber of the group takes the removed one's place.
        let last = groups[group].subscribers.count - 1
        if place.index != last {
            let moved = groups[group].subscribers[last]
            groups[group].subscribers[place.index] = moved
            places[ObjectIdentifier(moved)]?.index = place.index
        }
        groups[group].subscribers.removeLast()
        guard groups[group].subscribers.isEmpty else { return }
        // The same for the emptied group: the last group takes its place.
        groupIndex[place.filter] = nil
        let lastGroup = groups.count - 1
        if group != lastGroup {
            groups[group] = groups[lastGroup]
            groupIndex[groups[group].filter] = group
        }
        groups.removeLast()
    }
}
