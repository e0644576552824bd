import MicroHTTPD

extension Gateway {
    /// Every endpoint of the HTTP API, declared once, in the order they are tried: its path,
    /// its methods (`OPTIONS` is added to each), who may call it once access control is on,
    /// and what answers it. Paths under `/v1/` belong to the API alone; anything else that no
    /// route matches is a file under `public/`.
    static func makeRoutes() -> RouteTable<Handler> {
        RouteTable(
            reserving: "v1",
            [
                Route("/v1/cache/{key}", [.get, .head, .put, .delete], .token) {
                    gateway, request, path, caller in
                    try gateway.cacheValue(request, key: gateway.key(path[0]), by: caller)
                },
                Route("/v1/cache/{key}/ttl", [.get, .head, .put], .token) { gateway, request, path, caller in
                    try gateway.timeToLive(request, key: gateway.key(path[0]), by: caller)
                },
                Route("/v1/queues/{name}", [.get, .head, .post, .delete], .token) {
                    gateway, request, path, caller in
                    try gateway.queue(request, name: gateway.key(path[0]), by: caller)
                },
                Route("/v1/queues/{name}/pop", [.post], .token) { gateway, request, path, caller in
                    try gateway.pop(request, from: gateway.key(path[0]), by: caller)
                },
                Route("/v1/queues/{name}/receive", [.post], .token) { gateway, request, path, caller in
                    try gateway.receive(request, from: gateway.key(path[0]), by: caller)
                },
                Route("/v1/queues/{name}/leases/{receipt}", [.put, .delete], .token) {
                    gateway, request, path, caller in
                    try gateway.lease(
                        request, queue: gateway.key(path[0]), receipt: PercentEncoding.decodeText(path[1]),
                        by: caller)
                },
                Route("/v1/queues/{name}/ack", [.post], .token) { gateway, request, path, caller in
                    try gateway.acknowledge(request, queue: gateway.key(path[0]), by: caller)
                },
                Route("/v1/queues/{name}/policy", [.get, .head, .put, .delete], .token) {
                    gateway, request, path, caller in
                    try gateway.policy(request, queue: gateway.key(path[0]), by: caller)
                },
                Route("/v1/queues/{name}/messages", [.get, .head], .token) { gateway, request, path, caller in
                    try gateway.peekMessages(request, queue: gateway.key(path[0]), by: caller)
                },
                Route("/v1/pop", [.post], .token) { gateway, request, _, caller in
                    try gateway.popFromQueueList(request, by: caller)
                },
                Route("/v1/keys", [.get, .head], .token) { gateway, request, _, caller in
                    try gateway.listKeys(request, by: caller)
                },
                Route("/v1/events", [.get, .head], .tokenOrTicket) { gateway, request, _, caller in
                    try gateway.streamEvents(request, by: caller)
                },
                Route("/v1/ws", [.get], .tokenOrTicket) { gateway, request, _, caller in
                    try gateway.upgradeToWebSocket(request, by: caller)
                },
                Route("/v1/tickets", [.post], .token) { gateway, request, _, caller in
                    try gateway.issueTicket(request, for: caller)
                },
                Route("/healthz", [.get, .head], .open) { gateway, request, _, _ in
                    try gateway.health(request)
                },
                Route("/readyz", [.get, .head], .open) { gateway, request, _, _ in
                    try gateway.readiness(request)
                },
                Route("/metrics", [.get, .head], .admin) { gateway, request, _, _ in
                    try gateway.renderMetrics(request)
                },
                Route("/openapi.yaml", [.get, .head], .open) { gateway, _, _, _ in
                    try gateway.openAPI()
                },
                Route("/{file...}", [.get, .head], .open) { gateway, request, _, _ in
                    .respond(try gateway.staticFiles.response(forPath: request.path))
                },
            ])
    }
}
