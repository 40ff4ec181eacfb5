import Herald
import Testing

@Suite("Standard Webhooks signing")
struct SigningTests {
    @Test("matches the specification's published test vector")
    func testVector() throws {
        let secret = try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = WebhookSigner.signature(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8),
            secret: secret)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test("during a rotation the header carries one signature per secret")
    func rotation() throws {
        var random = SeededRandom(seed: 1)
        let a = WebhookSecret.generate(using: &random)
        let b = WebhookSecret.generate(using: &random)
        let header = WebhookSigner.header(id: "msg_1", timestamp: 10, body: [1, 2], secrets: [a, b])
        let parts = header.split(separator: " ").map(String.init)
        #expect(parts == [
            WebhookSigner.signature(id: "msg_1", timestamp: 10, body: [1, 2], secret: a),
            WebhookSigner.signature(id: "msg_1", timestamp: 10, body: [1, 2], secret: b),
        ])
        #expect(parts[0] != parts[1])
    }

    @Test("secrets must be whsec_ + base64 of 24 to 64 bytes, and never print", arguments: [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_AAAA",
        "whsec_" + String(repeating: "A", count: 100),
    ])
    func secretValidation(_ text: String) {
        #expect(throws: HeraldError.self) { try WebhookSecret(text) }
    }

    @Test("a secret's description hides the key")
    func description() throws {
        let secret = try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect("\(secret)" == "whsec_***")
    }
}

@Suite("Redaction and parsing helpers")
struct RedactorTests {
    @Test("secrets, credentials in URLs and secret-looking fields are hidden; text is bounded")
    func redaction() {
        let text = "POST https://bob:hunter2@x.io failed: token=abc123 Authorization: Bearer eyJhbGci.x.y whsec_MfKQ9r8GKYqr my-own-secret"
        let out = Redactor.redact(text, secrets: ["my-own-secret"])
        for leaked in ["hunter2", "abc123", "eyJhbGci", "MfKQ9r8GKYqr", "my-own-secret"] {
            #expect(!out.contains(leaked), "\(leaked) leaked: \(out)")
        }
        let long = Redactor.redact(String(repeating: "x", count: 5000), limit: 100)
        #expect(long.count == 100)
    }
}
