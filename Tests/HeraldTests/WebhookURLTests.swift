import Herald
import HeraldTestSupport
import Testing

@Suite("Webhook URL checks")
struct WebhookURLTests {
    @Test("accepted", arguments: WebhookURLCases.accepted)
    func accepted(_ url: String) {
        #expect(WebhookURL.problem(url) == nil)
    }

    @Test("refused with the reason", arguments: WebhookURLCases.refused)
    func refused(_ url: String, _ reason: String) throws {
        let problem = try #require(WebhookURL.problem(url))
        #expect(problem.contains(reason), "\(url): \(problem)")
    }
}
