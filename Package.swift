// swift-tools-version: 6.2
import PackageDescription

/// Settings shared by every Swift target of ours: Swift 6 language mode and no warnings.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "keygate",
    products: [
        .executable(name: "keygate", targets: ["keygate"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CLinux"),
        .target(
            name: "Plumbing",
            dependencies: ["CLinux"],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CMicroHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]
        ),
        .target(
            name: "MicroHTTPD",
            dependencies: [
                "CMicroHTTPD",
                "Plumbing",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Keyspace",
            dependencies: [
                "Plumbing",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WebSocket",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "MicroHTTPD",
                "Keyspace",
                "WebSocket",
                "Plumbing",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "keygate",
            dependencies: [
                "Gateway",
                // For the persistence settings only; the keyspace is opened by the gateway.
                "Keyspace",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeygateTestSupport",
            dependencies: ["Plumbing"],
            path: "Tests/KeygateTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PlumbingTests",
            dependencies: ["Plumbing", "KeygateTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KeyspaceTests",
            dependencies: ["Keyspace", "KeygateTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebSocketTests",
            dependencies: ["WebSocket"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MicroHTTPDTests",
            dependencies: [
                "MicroHTTPD",
                "KeygateTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway",
                "Keyspace",
                "WebSocket",
                "KeygateTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
