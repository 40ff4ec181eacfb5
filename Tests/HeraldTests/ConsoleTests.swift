import Foundation
@testable import Herald
@testable import HeraldAPI
import Testing

/// The console's pure parts: escaping, form parsing, filters, the cross-site guards, the way back.
@Suite("Console values")
struct ConsoleTests {
    let session = ConsoleSession(token: APIToken(parsing: "hrld_abcdefghijkl_" + String(repeating: "m", count: 52))!)

    @Test("the session cookie: HttpOnly, SameSite=Strict, scoped to /console; Secure exactly when serving HTTPS")
    func cookieAttributes() {
        for secure in [false, true] {
            for cookie in [session.cookie(secure: secure), ConsoleSession.endingCookie(secure: secure)] {
                let header = cookie.description
                #expect(header.contains("HttpOnly") && header.contains("SameSite=Strict") && header.contains("Path=/console"), "\(header)")
                #expect(header.contains("Secure") == secure, "\(header)")
            }
        }
    }

    @Test("interpolated text is escaped; markup built as HTML is not")
    func escaping() {
        let hostile = #"<script>alert("x")</script>&'"#
        let html: HTML = "<p title=\"\(hostile)\">\(hostile)\(HTML("<br>"))\(42)</p>"
        #expect(html.rendered == "<p title=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;\">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;<br>42</p>")
    }

    @Test("a timeline with hostile values renders them escaped")
    func pageEscapes() {
        let evil = "<img src=x onerror=alert(1)>"
        let delivery = DeliveryAdminStore.Delivery(
            id: 7, state: "dead", applicationID: "acme", endpointID: 3, messageID: nil, url: "https://a.example/?x=\(evil)", eventType: evil,
            eventID: evil, idempotencyKey: evil, attempts: 1, nextAttemptAt: Date(), lastStatus: 500, lastError: evil, createdAt: Date(),
            finishedAt: Date(), payloadPruned: false)
        let attempt = DeliveryAdminStore.Attempt(
            attempt: 1, startedAt: Date(), durationMs: 5, statusCode: 500, outcome: "dead", error: evil, responseExcerpt: evil, workerID: evil,
            nextAttemptAt: nil)
        let page = ConsoleDeliveryPage(delivery: delivery, attempts: [attempt], events: [], session: session, notices: []).render().rendered
        #expect(!page.contains("<img"))
        #expect(page.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(page.contains("/console/deliveries/7/replay"), "a dead delivery can be replayed")
    }

    @Test("forms: + is a space, names and values are percent-decoded, blanks are absent, the first of a repeat wins")
    func form() {
        let form = ConsoleForm("a=x+y&b=%3Cz%3E&c=&c=2&d%20e=1&a=second")
        #expect(form["a"] == "x y" && form["b"] == "<z>" && form["c"] == nil && form["d e"] == "1")
        #expect(ConsoleForm.encode([("app", "a&b"), ("x", nil), ("y", "")]) == "app=a%26b")
    }

    @Test("the list's filters: failed + dead by default, a state, a UTC time range, the cursor; bad values said")
    func query() throws {
        let plain = ConsoleDeliveryQuery(ConsoleForm(nil))
        #expect(plain.filter.states == [.failed, .dead] && plain.problems.isEmpty && plain.encoded().isEmpty)
        let q = ConsoleDeliveryQuery(ConsoleForm("app=acme&endpoint=12&state=cancelled&from=2026-12-03T08%3A00&until=2026-12-04T00:00:30&before=99"))
        #expect(q.filter.states == [.cancelled] && q.filter.application == "acme" && q.filter.endpoint == "12" && q.before == 99)
        #expect(q.fromDate == Date(timeIntervalSince1970: 1_796_284_800))
        #expect(q.untilDate == Date(timeIntervalSince1970: 1_796_342_430))
        #expect(q.encoded(before: 5) == "app=acme&endpoint=12&state=cancelled&from=2026-12-03T08%3A00&until=2026-12-04T00%3A00%3A30&before=5")
        #expect(ConsoleDeliveryQuery(ConsoleForm("state=any")).filter.states.isEmpty)
        let bad = ConsoleDeliveryQuery(ConsoleForm("state=nope&from=yesterday&until=2026-02-30T00:00&before=-1"))
        #expect(bad.problems.count == 4 && bad.fromDate == nil && bad.untilDate == nil && bad.before == nil && bad.states == .problems)
    }

    @Test("same origin: Origin (else Referer) must name the Host; neither is left to the form token")
    func origin() {
        #expect(ConsoleSession.isSameOrigin(origin: "http://127.0.0.1:8080", referer: nil, host: "127.0.0.1:8080"))
        #expect(ConsoleSession.isSameOrigin(origin: nil, referer: "http://Herald.example/console/", host: "herald.example"))
        #expect(ConsoleSession.isSameOrigin(origin: "http://[::1]:8080", referer: nil, host: "[::1]:8080"))
        #expect(ConsoleSession.isSameOrigin(origin: nil, referer: nil, host: "herald.example"))
        #expect(!ConsoleSession.isSameOrigin(origin: "https://evil.example", referer: "http://herald.example/", host: "herald.example"))
        #expect(!ConsoleSession.isSameOrigin(origin: "http://127.0.0.1:9999", referer: nil, host: "127.0.0.1:8080"))
        #expect(!ConsoleSession.isSameOrigin(origin: "null", referer: nil, host: "herald.example"))
        #expect(!ConsoleSession.isSameOrigin(origin: "http://herald.example", referer: nil, host: nil))
    }

    @Test("the form token is bound to the session's token and checked exactly")
    func formToken() {
        let other = ConsoleSession(token: APIToken(parsing: "hrld_abcdefghijkl_" + String(repeating: "n", count: 52))!)
        #expect(session.formToken.count == 64 && session.formToken != other.formToken)
        #expect(!session.formToken.contains("mmmm"), "the token does not show through")
        #expect(session.accepts(formToken: session.formToken))
        #expect(!session.accepts(formToken: other.formToken) && !session.accepts(formToken: nil) && !session.accepts(formToken: ""))
    }

    @Test("the way back after a button stays on the console and carries one notice")
    func returnPath() {
        #expect(ConsoleHandler.returnPath("/console/?app=acme&notice=replayed.1", notice: "replayed.2") == "/console/?app=acme&notice=replayed.2")
        #expect(ConsoleHandler.returnPath("/console/endpoints", notice: "enabled.3") == "/console/endpoints?notice=enabled.3")
        for hostile in ["https://evil.example/", "//evil.example/console/", "/console/\\evil", "/consolex", "/console/\n", nil] {
            #expect(ConsoleHandler.returnPath(hostile, notice: "n") == "/console/?notice=n", "\(String(describing: hostile))")
        }
    }

    @Test("notices come from fixed codes only")
    func notices() {
        #expect(ConsoleNotice.from("replayed.12")?.text.contains("Delivery 12 replayed") == true)
        #expect(ConsoleNotice.from("replayed.<b>") == nil && ConsoleNotice.from("anything you like") == nil && ConsoleNotice.from(nil) == nil)
    }

    @Test("the policy admits exactly the stylesheet and no script")
    func policy() {
        #expect(ConsoleStyle.contentSecurityPolicy.hasPrefix("default-src 'none'; style-src 'sha256-"))
        #expect(!ConsoleStyle.contentSecurityPolicy.contains("script-src") && !ConsoleStyle.contentSecurityPolicy.contains("unsafe"))
    }
}
