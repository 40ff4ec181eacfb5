import Foundation
import Testing

/// Replays `Fuzz/corpus/<target>/*` (seeds, and each crash `make fuzz` found, saved there as a regression)
/// through the fuzz properties, so every input that once failed is checked on every `make test`.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/corpus").standardized

    @Test("every committed corpus input satisfies its target's properties", arguments: FuzzProperties.targets.keys.sorted())
    func replay(_ target: String) throws {
        let directory = Self.root.appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!files.isEmpty, "no seed corpus for \(target)")
        let property = try #require(FuzzProperties.targets[target])
        for file in files.sorted() {
            property(Array(try Data(contentsOf: directory.appendingPathComponent(file))))
        }
    }
}
