/// One endpoint of the HTTP API, declared once: its path template, the methods it answers,
/// who may call it, and what answers it. Its name in metrics and logs is its template.
struct Route<Handler: Sendable>: Sendable {
    /// Where it is.
    let template: PathTemplate
    /// The methods it answers, `OPTIONS` included.
    let methods: MethodSet
    /// Who may call it once access control is on; `OPTIONS` (a CORS preflight, which browsers
    /// send without credentials) is open everywhere.
    let access: RouteAccess
    /// What answers it.
    let handler: Handler

    /// A route at `template` answering `methods` and `OPTIONS` with `handler`, for callers
    /// `access` lets in.
    init(_ template: String, _ methods: MethodSet, _ access: RouteAccess, _ handler: Handler) {
        self.template = PathTemplate(template)
        self.methods = methods.union(.options)
        self.access = access
        self.handler = handler
    }
}
