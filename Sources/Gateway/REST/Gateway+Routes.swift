import MicroHTTPD

extension Gateway {
    /// Every endpoint of the HTTP API, declared once, in the order they are tried: its path,
    /// its methods (`OPTIONS` is added to each), and what answers it. Paths under `/v1/` belong
    /// to the API alone; anything else that no route matches is a file under `public/`.
    static func makeRoutes() -> RouteTable<Handler> {
        RouteTable(
            reserving: "v1",
            [
                Route("/v1/cache/{key}", [.get, .head, .put, .delete]) { gateway, request, path in
                    try gateway.cacheValue(request, key: gateway.key(path[0]))
                },
                Route("/v1/cache/{key}/ttl", [.get, .head, .put]) { gateway, request, path in
                    try gateway.timeToLive(request, key: gateway.key(path[0]))
                },
                Route("/v1/queues/{name}", [.get, .head, .post, .delete]) { gateway, request, path in
                    try gateway.queue(request, name: gateway.key(path[0]))
                },
                Route("/v1/queues/{name}/pop", [.post]) { gateway, request, path in
                    try gateway.pop(request, from: [gateway.key(path[0])], allowing: ["wait"])
                },
                Route("/v1/queues/{name}/messages", [.get, .head]) { gateway, request, path in
                    try gateway.peekMessages(request, queue: gateway.key(path[0]))
                },
                Route("/v1/pop", [.post]) { gateway, request, _ in
                    try gateway.popFromQueueList(request)
                },
                Route("/v1/keys", [.get, .head]) { gateway, request, _ in
                    try gateway.listKeys(request)
                },
                Route("/v1/events", [.get, .head]) { gateway, request, _ in
                    try gateway.streamEvents(request)
                },
                Route("/v1/ws", [.get]) { gateway, request, _ in
                    try gateway.upgradeToWebSocket(request)
                },
                Route("/healthz", [.get, .head]) { gateway, request, _ in
                    try gateway.health(request)
                },
                Route("/readyz", [.get, .head]) { gateway, request, _ in
                    try gateway.readiness(request)
                },
                Route("/metrics", [.get, .head]) { gateway, request, _ in
                    try gateway.renderMetrics(request)
                },
                Route("/openapi.yaml", [.get, .head]) { gateway, _, _ in
                    try gateway.openAPI()
                },
                Route("/{file...}", [.get, .head]) { gateway, request, _ in
                    .respond(try gateway.staticFiles.response(forPath: request.path))
                },
            ])
    }
}
