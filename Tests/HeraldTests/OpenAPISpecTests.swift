import Crypto
import Foundation
@testable import HeraldAPI
import Testing

/// The generated server code is committed (scripts/generate-openapi.sh): these fail when openapi.yaml or
/// the generator config changed without regenerating, so the spec and the code cannot drift.
@Suite("OpenAPI spec and generated code")
struct OpenAPISpecTests {
    static let apiFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/HeraldAPI")

    static func specHash() throws -> String {
        let spec = try Data(contentsOf: apiFolder.appendingPathComponent("openapi.yaml"))
        let config = try Data(contentsOf: apiFolder.appendingPathComponent("openapi-generator-config.yaml"))
        return SHA256.hash(data: spec + config).map { String(format: "%02x", $0) }.joined()
    }

    @Test("every generated file records the SHA-256 of the current openapi.yaml and config")
    func generatedFilesMatchSpec() throws {
        let hash = try Self.specHash()
        let generated = Self.apiFolder.appendingPathComponent("Generated")
        let files = try FileManager.default.contentsOfDirectory(atPath: generated.path).filter { $0.hasSuffix(".swift") }
        #expect(files.contains("Server.swift") && files.contains("Types.swift"), "\(files)")
        for file in files {
            let text = try String(contentsOf: generated.appendingPathComponent(file), encoding: .utf8)
            #expect(
                text.contains("// openapi.yaml sha256: \(hash)"),
                "Sources/HeraldAPI/Generated/\(file) is stale: run scripts/generate-openapi.sh")
        }
    }

    @Test("the spec served at /openapi.yaml is the file, byte for byte")
    func embeddedSpecIsTheFile() throws {
        let text = try String(contentsOf: Self.apiFolder.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        #expect(OpenAPISpec.yaml + "\n" == text || OpenAPISpec.yaml == text, "OpenAPISpec.swift is stale: run scripts/generate-openapi.sh")
    }
}
