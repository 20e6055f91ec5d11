// swift-tools-version: 6.0
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode comes from the tools version;
/// imports are internal unless a target re-exports on purpose, so no C type leaks into a public API.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Hotline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hotline", targets: ["hotline"]),
        .library(name: "HotlineCore", targets: ["HotlineCore"]),
        .library(name: "HotlineEngines", targets: ["HotlineEngines"]),
        .library(name: "HotlineServer", targets: ["HotlineServer"]),
        .library(name: "HotlineStore", targets: ["HotlineStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.4.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // MARK: - Layer 0: C libraries (Debian packages, found with pkg-config)
        .systemLibrary(
            name: "CPocketSphinx",
            pkgConfig: "pocketsphinx",
            providers: [.apt(["libpocketsphinx-dev", "libsphinxbase-dev"])]
        ),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CEspeakNG", pkgConfig: "espeak-ng", providers: [.apt(["libespeak-ng-dev"])]),

        // MARK: - Layer 1: safe wrappers (the only code that touches C)
        .target(name: "PocketSphinx", dependencies: ["CPocketSphinx"], swiftSettings: swiftSettings),
        .target(name: "SndFile", dependencies: ["CSndFile"], swiftSettings: swiftSettings),
        .target(name: "ESpeakNG", dependencies: ["CEspeakNG"], swiftSettings: swiftSettings),

        // MARK: - Layer 2: the pure Swift domain
        .target(name: "HotlineCore", dependencies: [.product(name: "Metrics", package: "swift-metrics")], swiftSettings: swiftSettings),

        // MARK: - Layer 3: engines adapting the wrappers to core protocols
        .target(
            name: "HotlineEngines",
            dependencies: [
                "HotlineCore", "PocketSphinx", "SndFile", "ESpeakNG",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Layer 3: transcript stores (SQLite embedded by default, PostgreSQL shared by several nodes)
        .target(
            name: "HotlineStore",
            dependencies: [
                "HotlineCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Layer 4: the server (gateway protocols, REST API, metrics); sees core protocols only
        .target(
            name: "HotlineServer",
            dependencies: [
                "HotlineCore",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Layer 5: the command line (composition root)
        .executableTarget(
            name: "hotline",
            dependencies: [
                "HotlineCore", "HotlineEngines", "HotlineServer", "HotlineStore", "SndFile",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Tests
        .testTarget(name: "HotlineCoreTests", dependencies: ["HotlineCore"], swiftSettings: swiftSettings),
        .testTarget(name: "PocketSphinxTests", dependencies: ["PocketSphinx"], swiftSettings: swiftSettings),
        .testTarget(name: "HotlineEnginesTests", dependencies: ["HotlineEngines", "HotlineCore", "HotlineTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HotlineServerTests",
            dependencies: [
                "HotlineServer", "HotlineCore", "HotlineEngines", "HotlineStore", "HotlineTestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "HotlineTestSupport", dependencies: ["HotlineStore", "HotlineCore", .product(name: "Logging", package: "swift-log"),
                                                         .product(name: "PostgresNIO", package: "postgres-nio"),
                                                         .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
                path: "Tests/Support", swiftSettings: swiftSettings),
        .testTarget(name: "HotlineStoreTests", dependencies: ["HotlineStore", "HotlineCore", "HotlineTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "HotlineCLITests", dependencies: ["hotline", "HotlineCore", "HotlineTestSupport"], swiftSettings: swiftSettings),
    ]
)
