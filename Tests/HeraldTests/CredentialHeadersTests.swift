import Herald
import Testing

@Suite("Credential headers are redacted in the attempt log")
struct CredentialHeadersTests {
    @Test("credential-bearing names are recognised, any case", arguments: [
        "Authorization", "proxy-authorization", "COOKIE", "X-Api-Key", "X-Auth-Token", "x-client-secret", "X-Password", "X-Amz-Security-Token",
    ])
    func credential(_ name: String) {
        #expect(CredentialHeaders.isCredential(name))
    }

    @Test("other headers are kept as they are", arguments: ["Content-Type", "User-Agent", "webhook-id", "Idempotency-Key", "X-Request-Id"])
    func plain(_ name: String) {
        #expect(!CredentialHeaders.isCredential(name))
    }

    @Test("values become a short fingerprint that still tells two values apart")
    func fingerprints() {
        let headers = ["Authorization": "Bearer sk_live_abcdef123456", "X-Api-Key": "k1", "Content-Type": "application/json"]
        let out = CredentialHeaders.redacted(headers)
        #expect(out["Content-Type"] == "application/json")
        #expect(out["Authorization"]?.hasPrefix("[redacted sha256:") == true)
        #expect(out["Authorization"]?.count == "[redacted sha256:12345678]".count)
        #expect(!out.values.contains { $0.contains("sk_live") || $0 == "k1" })
        #expect(CredentialHeaders.fingerprint("a") != CredentialHeaders.fingerprint("b"))
        #expect(CredentialHeaders.fingerprint("a") == CredentialHeaders.fingerprint("a"))
        #expect(Set(CredentialHeaders.values(in: headers)) == ["Bearer sk_live_abcdef123456", "sk_live_abcdef123456", "k1"])
    }
}
