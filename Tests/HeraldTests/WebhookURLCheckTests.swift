import Herald
import HeraldTestSupport
import Testing

@Suite("Webhook URL checks")
struct WebhookURLCheckTests {
    @Test("accepted", arguments: WebhookURLCases.accepted)
    func accepted(_ url: String) {
        #expect(WebhookURLCheck.problem(url) == nil)
    }

    @Test("refused with the reason", arguments: WebhookURLCases.refused)
    func refused(_ url: String, _ reason: String) throws {
        let problem = try #require(WebhookURLCheck.problem(url))
        #expect(problem.contains(reason), "\(url): \(problem)")
    }
}
