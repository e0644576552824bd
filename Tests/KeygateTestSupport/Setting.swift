/// A change of one setting, for a fixture's `configure` parameter:
/// `withServer(configure: setting(\.readTimeout, to: .seconds(1))) { … }`.
package func setting<Root, Value>(_ path: WritableKeyPath<Root, Value>, to value: Value) -> (inout Root) ->
    Void
{
    { $0[keyPath: path] = value }
}
