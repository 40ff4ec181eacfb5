// swift-tools-version:6.1
import PackageDescription

/// libFuzzer targets for the parsers and writers that see outside data (`make fuzz`).
///
/// A package of its own because it is built with `--sanitize=fuzzer` (libFuzzer supplies `main`), which
/// the main package's products must never be. The properties live in Tests/HeraldTests/FuzzProperties.swift
/// (linked here) so that the unit tests replay the corpus with the very same checks.
let package = Package(
    name: "herald-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "herald", path: "..")],
    targets: [
        .executableTarget(
            name: "herald-fuzz",
            dependencies: [.product(name: "Herald", package: "herald")],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .unsafeFlags(["-parse-as-library"])]
        )
    ]
)
