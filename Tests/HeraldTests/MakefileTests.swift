import Foundation
import Testing

/// `make test` on a fresh machine installs what the tests run, and CI takes that same path.
///
/// Why: CI used to run `scripts/install-deps.sh --ci` itself, so it passed while a newcomer's `make demo`
/// then `make test` failed with "promtool not found". These checks fail when a tool the tests run is not
/// installed by `make test`, or when CI installs anything outside the make targets.
@Suite("Makefile and CI")
struct MakefileTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func read(_ path: String) throws -> String {
        try String(contentsOf: Self.repository.appendingPathComponent(path), encoding: .utf8)
    }

    /// The recipe lines and prerequisites of `target`.
    func rule(_ target: String, in makefile: String) -> (prerequisites: [String], recipe: [String]) {
        let lines = makefile.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix(target + ":") }) else { return ([], []) }
        let head = lines[start].dropFirst(target.count + 1).split(separator: "#").first.map(String.init) ?? ""
        let recipe = lines[(start + 1)...].prefix { $0.hasPrefix("\t") }.map { $0.trimmingCharacters(in: .whitespaces) }
        return (head.split(separator: " ").map(String.init), recipe)
    }

    @Test("CI runs make lint, make test and make fuzz (30 s a target), and installs nothing itself")
    func ciRunsOnlyMake() throws {
        let commands = try read(".ci/run").split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") && !$0.hasPrefix("echo") && !$0.hasPrefix("set ") && !$0.hasPrefix("cd ") }
        #expect(commands == ["make lint", "make test", "make fuzz FUZZ_SECONDS=30"])
    }

    @Test("make test and make lint install their tools first")
    func targetsInstall() throws {
        let makefile = try read("Makefile")
        #expect(rule("test", in: makefile).prerequisites.first == "test-deps")
        #expect(rule("test-deps", in: makefile).recipe == ["scripts/install-deps.sh --test"])
        #expect(rule("lint", in: makefile).prerequisites.first == "lint-deps")
        #expect(rule("lint-deps", in: makefile).recipe == ["scripts/install-deps.sh --lint"])
    }

    @Test("every program the tests run by path is installed by install-deps.sh --test")
    func testToolsInstalled() throws {
        // Programs in every Debian base system (Essential: yes) need no installing.
        let essential: Set<String> = ["sh", "chown", "env", "kill", "true", "false"]
        let script = try read("scripts/install-deps.sh")
        let testSection = try #require(script.range(of: "if $want_test; then").map { script[$0.upperBound...] }?
            .components(separatedBy: "\nfi").first)
        let installed = Set(testSection.matches(of: /tool: ([A-Za-z0-9_-]+)/).map { String($0.output.1) })
        var used: Set<String> = []
        let tests = Self.repository.appendingPathComponent("Tests")
        let files = FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        for file in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: /"\/(?:usr\/)?(?:local\/)?s?bin\/([A-Za-z0-9_-]+)"/) { used.insert(String(match.output.1)) }
        }
        #expect(used.contains("promtool"), "the scan finds the tools the tests run")
        let missing = used.subtracting(essential).subtracting(installed)
        #expect(missing.isEmpty, "tests run \(missing.sorted()) but `scripts/install-deps.sh --test` does not install them")
    }

    @Test("make lint tests the alert rules, install-deps.sh --lint installs promtool, and the rules name real metrics")
    func lintAlerts() throws {
        let makefile = try read("Makefile")
        #expect(rule("lint", in: makefile).prerequisites.contains("lint-alerts"))
        #expect(rule("lint-alerts", in: makefile).recipe.contains { $0.contains("promtool test rules alerts_test.yml") })
        let script = try read("scripts/install-deps.sh")
        let lintSection = try #require(script.range(of: "if $want_lint; then").map { script[$0.upperBound...] }?
            .components(separatedBy: "\nfi").first)
        #expect(lintSection.contains("tool: promtool"), "make lint runs promtool, so --lint must install it")
        // Names as HeraldMetrics builds them: herald_ + name + _unit.
        let source = try read("Sources/Herald/Observability/HeraldMetrics.swift")
        let exported = Set(source.matches(of: /descriptor\("([a-z_]+)", "([a-z]*)"/).map { m in
            "herald_" + m.output.1 + (m.output.2.isEmpty ? "" : "_" + m.output.2)
        })
        let used = Set(try read("docker/prometheus/alerts.yml").matches(of: /herald_[a-z_]+/).map { String($0.output) })
        #expect(!used.isEmpty)
        #expect(used.subtracting(exported).isEmpty, "alerts.yml uses \(used.subtracting(exported).sorted()), not exported")
    }
}
