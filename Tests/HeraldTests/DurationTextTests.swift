import Herald
import Testing

@Suite("Duration text")
struct DurationTextTests {
    @Test("units, decimals and compounds parse", arguments: [
        ("250ms", Duration.milliseconds(250)), ("5s", .seconds(5)), ("10m", .seconds(600)), ("2h", .seconds(7200)),
        ("90d", .seconds(90 * 86_400)), ("1h30m", .seconds(5400)), ("1d12h", .seconds(129_600)), ("1m30s500ms", .milliseconds(90_500)),
        ("1.5h", .seconds(5400)), (" 30d ", .seconds(30 * 86_400)), ("0s", .zero),
    ])
    func parses(_ text: String, _ expected: Duration) throws {
        #expect(try DurationText.parse(text, name: "--x") == expected)
    }

    @Test("a bare number is refused (prune --older-than 90 once meant 90 seconds)", arguments: ["90", "0", "1.5", "5 s", "s", "", "1h30", "-5s", "5x", "h1", "1e3s", "99999999999d"])
    func refuses(_ text: String) {
        #expect(throws: HeraldError.self) { try DurationText.parse(text, name: "--older-than") }
    }

    @Test("the refusal names the option and shows a unit")
    func message() {
        do {
            _ = try DurationText.parse("90", name: "--older-than")
            Issue.record("accepted a bare number")
        } catch let error as HeraldError {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("--older-than"))
            #expect(error.message.contains("90d"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
