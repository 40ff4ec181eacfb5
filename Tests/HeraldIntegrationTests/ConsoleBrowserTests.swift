import Foundation
import HeraldTestSupport
import Testing

/// The console in a real browser (issue #14): headless Chromium, driven by selenium through
/// Tests/Browser/console_walk.py, signs in, finds the dead letter, opens each page and clicks Replay; the
/// delivery must then be pending in the database. Screenshots of each page are written to
/// `.build/console-screenshots/` for review (the paths are printed).
///
/// Never skipped: without chromium, chromedriver or selenium it fails saying how to install them.
@Suite("Console in a browser")
struct ConsoleBrowserTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("sign in, see the dead letter, open every page, replay: the delivery is pending again")
    func walk() async throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.isExecutableFile(atPath: tool) {
            Issue.record("\(tool) is missing: run scripts/install-deps.sh --test (apt-get install chromium chromium-driver)")
            return
        }
        let selenium = try await Self.run("/usr/bin/env", ["python3", "-c", "import selenium"])
        guard selenium.status == 0 else {
            Issue.record("python3 cannot import selenium: run scripts/install-deps.sh --test (python3 -m pip install selenium): \(selenium.output)")
            return
        }
        let f = try await ConsoleFixture.start()
        let out = Self.repository.appendingPathComponent(".build/console-screenshots").path
        let script = Self.repository.appendingPathComponent("Tests/Browser/console_walk.py").path
        let walk = try await Self.run(
            "/usr/bin/env",
            ["python3", script, "--base", "http://127.0.0.1:\(f.api.server.port)", "--token", f.api.admin, "--delivery", String(f.dead.delivery),
             "--out", out])
        print(walk.output)
        #expect(walk.status == 0, "console_walk.py: \(walk.output)\nserver: \(f.api.server.process.output.suffix(3000))")
        #expect(try await f.state(f.dead.delivery) == "pending", "Replay in the browser made the delivery pending")
        for page in ["1-sign-in", "2-dead-letters", "3-delivery-timeline", "4-endpoint-health", "5-after-replay"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(page).png"), "screenshot \(page)")
        }
        #expect(!walk.output.contains(f.api.admin), "the token is never printed")
    }

    /// Runs a command on a thread of its own: the walk takes seconds, too long to hold a cooperative thread.
    static func run(_ executable: String, _ arguments: [String]) async throws -> Shell.Output {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Shell.run(executable, arguments) })
            }
        }
    }
}
