// swift-tools-version:6.1
import PackageDescription

/// One settings array for every target, as in hummingbird: Swift 6 language mode, strict concurrency.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// Tests and their support code import modules plainly (public by default).
let testSettings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "herald",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "herald", targets: ["herald"]),
        .executable(name: "herald-receiver", targets: ["herald-receiver"]),
        .library(name: "Herald", targets: ["Herald"]),
        .library(name: "PGDriver", targets: ["PGDriver"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Already there for AsyncHTTPClient; named for `herald serve --tls-cert` (loading and checking PEM files).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context.git", from: "1.0.0"),
        // Spans (the API only; a no-op unless `herald` bootstraps an exporter). Hummingbird already depends on it.
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // The OTLP exporter, over HTTP only: the gRPC trait would add grpc-swift and HTTP/2 to every build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // Default traits off: no JSON/YAML file parsing needed; Herald reads its own flat TOML subset.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: []),
        // The admin HTTP API (#14). Exact versions: the generated code in Sources/HeraldAPI/Generated is
        // tied to the generator's output format, and the runtime must match what it expects.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", exact: "1.13.4", traits: []),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", exact: "2.1.0"),
        // Not a build plugin (it would add its whole build to every fresh build, see docs/api.md): only
        // `scripts/generate-openapi.sh` runs it, and a unit test checks the committed output is current.
        .package(url: "https://github.com/apple/swift-openapi-generator.git", exact: "1.14.3"),
    ],
    targets: [
        // libpq's C API; pkg-config finds it, apt's libpq-dev provides it.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // The thin libpq wrapper: knows PostgreSQL, nothing of webhooks. The only importer of CLibPQ.
        .target(
            name: "PGDriver",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Herald's core: migrations, store, delivery engine, circuit breaker.
        .target(
            name: "Herald",
            dependencies: [
                "PGDriver",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // Exports Herald's spans over OTLP when the standard OTEL_* variables ask for it (off by default).
        .target(
            name: "HeraldTelemetry",
            dependencies: [
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Where a worker's settings come from: flags, HERALD_* variables, a herald.toml, defaults.
        .target(
            name: "HeraldConfiguration",
            dependencies: [
                "Herald",
                "HeraldAPI",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The admin HTTP API: openapi.yaml, the code generated from it, handlers, auth, the server Service.
        .target(
            name: "HeraldAPI",
            dependencies: [
                "Herald",
                "PGDriver",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                // `herald serve --tls-cert/--tls-key`. NIOSSL is already built for AsyncHTTPClient, so this
                // adds only HummingbirdTLS's four files to a build.
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["openapi.yaml", "openapi-generator-config.yaml"],
            swiftSettings: swiftSettings
        ),
        // The command line: parses, validates, calls Herald, prints.
        .executableTarget(
            name: "herald",
            dependencies: [
                "Herald",
                "HeraldConfiguration",
                "HeraldAPI",
                "HeraldTelemetry",
                "PGDriver",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A scripted webhook receiver for `make demo`, benchmarks and chaos runs (not part of Herald).
        .executableTarget(
            name: "herald-receiver",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: testSettings
        ),
        // Unit tests: pure values and parsing, no database, no network.
        .testTarget(
            name: "HeraldTests",
            dependencies: [
                "Herald", "HeraldAPI", "HeraldConfiguration", "PGDriver", "HeraldTestSupport", .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: testSettings
        ),
        // Shared integration-test support: a throwaway PostgreSQL, a real HTTP receiver on 127.0.0.1.
        .target(
            name: "HeraldTestSupport",
            dependencies: [
                "PGDriver",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/HeraldTestSupport",
            swiftSettings: testSettings
        ),
        // The driver against a real PostgreSQL.
        .testTarget(
            name: "PGDriverIntegrationTests",
            dependencies: ["PGDriver", "HeraldTestSupport"],
            swiftSettings: testSettings
        ),
        // Herald against a real PostgreSQL, real HTTP and real `herald` processes.
        .testTarget(
            name: "HeraldIntegrationTests",
            dependencies: [
                "Herald", "HeraldAPI", "PGDriver", "HeraldTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                // An HTTPS client that trusts a test's own self-signed certificate (APITLSTests).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: testSettings
        ),
    ]
)
