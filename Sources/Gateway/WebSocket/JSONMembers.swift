/// The members of a JSON object in the order they were set: what a WebSocket reply carries
/// besides its `id` and `ok`. Written as a dictionary literal, `["etag": .string(tag)]`.
///
/// A reply holds a handful of members, so they are kept in an array: finding one by name is
/// O(n), cheaper at this size than hashing, and the text comes out in a fixed order.
struct JSONMembers: ExpressibleByDictionaryLiteral, Sendable {
    /// The members, in order; a name appears once.
    private var members: [(String, JSONValue)]

    /// Members from a literal, which names each once (as a dictionary literal must). O(n²),
    /// n being a handful.
    init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (index, (name, _)) in elements.enumerated() {
            precondition(
                !elements[..<index].contains { $0.0 == name }, "The member '\(name)' is named twice.")
        }
        members = elements
    }

    /// The value of the member `name`; setting replaces it in place, or adds it at the end,
    /// and setting `nil` removes it. O(n).
    subscript(name: String) -> JSONValue? {
        get {
            members.first { $0.0 == name }?.1
        }
        set {
            let index = members.firstIndex { $0.0 == name }
            switch (index, newValue) {
            case (let index?, let value?): members[index].1 = value
            case (let index?, nil): members.remove(at: index)
            case (nil, let value?): members.append((name, value))
            case (nil, nil): break
            }
        }
    }

    /// Appends each member as `,"name":value`, in order, after members already written.
    /// O(size).
    func write(to writer: inout JSONWriter) {
        for (name, value) in members {
            writer.append(raw: ",")
            writeMember(name, value, to: &writer)
        }
    }

    /// Appends the members as an object of their own, `{"name":value,…}`. O(size).
    func writeObject(to writer: inout JSONWriter) {
        writer.append(raw: "{")
        for (index, (name, value)) in members.enumerated() {
            if index > 0 {
                writer.append(raw: ",")
            }
            writeMember(name, value, to: &writer)
        }
        writer.append(raw: "}")
    }

    private func writeMember(_ name: String, _ value: JSONValue, to writer: inout JSONWriter) {
        writer.appendString(name)
        writer.append(raw: ":")
        writer.append(value)
    }
}
