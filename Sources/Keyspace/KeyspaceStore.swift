/// The operations the gateway needs from a keyspace, whatever engine is behind them.
///
/// The built-in `KeyspaceEngine` is one; an engine over a Redis or Valkey cluster can be
/// another. Every method is safe to call from any thread and never blocks for long.
package protocol KeyspaceStore: Sendable {
    /// The string value of `key` with its version, or `nil` when the key is absent or expired.
    func value(forKey key: Key) throws(KeyspaceError) -> Versioned<StringValue>?

    /// Writes a string value; `timeToLive` `nil` makes the key persistent.
    func setValue(
        _ value: StringValue, forKey key: Key, timeToLive: Duration?, condition: WriteCondition
    ) throws(KeyspaceError) -> WriteOutcome

    /// Deletes the string at `key`; `false` when the key is absent.
    func removeValue(forKey key: Key, condition: WriteCondition) throws(KeyspaceError) -> Bool

    /// The time to live of `key`, or `nil` when the key is absent.
    func timeToLive(forKey key: Key) -> TimeToLive?

    /// Sets (`timeToLive` non-nil) or removes the time to live of `key`; `false` when absent.
    func setTimeToLive(_ timeToLive: Duration?, forKey key: Key) throws(KeyspaceError) -> Bool

    /// One page of the keys starting with `prefix`, after `cursor`, in byte order.
    func keys(prefix: [UInt8], after cursor: Key?, limit: Int) -> KeyPage
}
