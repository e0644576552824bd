/// One endpoint of the HTTP API, declared once: its path template, the methods it answers,
/// and what answers it. Its name in metrics and logs is its template.
struct Route<Handler: Sendable>: Sendable {
    /// Where it is.
    let template: PathTemplate
    /// The methods it answers, `OPTIONS` included.
    let methods: MethodSet
    /// What answers it.
    let handler: Handler

    /// A route at `template` answering `methods` and `OPTIONS` with `handler`.
    init(_ template: String, _ methods: MethodSet, _ handler: Handler) {
        self.template = PathTemplate(template)
        self.methods = methods.union(.options)
        self.handler = handler
    }
}
