import Keyspace

/// The operations on the keyspace as a whole.
enum Keys {
    /// The page size when a listing names none.
    static var defaultPageSize: Int { 100 }
    /// The largest page a listing returns.
    static var maxPageSize: Int { 1000 }

    /// One page of the keys starting with a prefix, in byte order, after a cursor.
    struct List: Operation {
        /// The bytes every key listed starts with.
        let prefix: [UInt8]
        /// The last key of the previous page, from its cursor; `nil` for the first page.
        let cursor: Key?
        /// The most keys on the page.
        let limit: Int

        var requirement: Requirement { .some(.read) }

        func execute<Store>(in operations: Operations<Store>) throws -> Completion<KeyPage> {
            .now(try operations.store.keys(prefix: prefix, after: cursor, limit: limit))
        }

        func isChange(_ output: KeyPage) -> Bool { false }

        /// The page without the keys the caller may not read: it may come out short, and its
        /// cursor still goes on from the last key looked at.
        func restrict(_ output: KeyPage, to permissions: Permissions) -> KeyPage {
            guard permissions.patterns(for: .read) != nil else { return output }
            return KeyPage(
                keys: output.keys.filter { permissions.allows(.read, on: $0.key) }, cursor: output.cursor)
        }
    }
}
