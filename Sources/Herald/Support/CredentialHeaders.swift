internal import Crypto
internal import Foundation

/// Hides the values of credential-bearing headers before they reach the attempt log, a log line or output.
///
/// Why: a producer's `Authorization: Bearer sk_live_…` header was copied into `attempts.request_headers`
/// once per attempt and shown by `deliveries show`. The name stays and the value becomes a short
/// fingerprint (`[redacted sha256:1a2b3c4d]`, the first 4 bytes of its SHA-256), so an operator can still
/// tell that two attempts carried different tokens without being able to read or replay either. Four bytes
/// do not help guess a high-entropy token; a guessable one (a short password) is weak whatever we store.
public enum CredentialHeaders {
    /// Whether `name` carries a credential: `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`,
    /// or a name containing `token`, `secret`, `key`, `password` or `auth` (any case). `Idempotency-Key`
    /// is Herald's own and holds the delivery's id, stored in the clear anyway: it is kept.
    public static func isCredential(_ name: String) -> Bool {
        let lower = name.lowercased()
        if lower == "idempotency-key" { return false }
        if ["authorization", "proxy-authorization", "cookie", "set-cookie"].contains(lower) { return true }
        var bytes = lower
        return bytes.withUTF8 { name in credentialWords.contains { Self.contains(name, $0) } }
    }

    /// The words that make a header name a credential, as bytes.
    private static let credentialWords: [[UInt8]] = ["token", "secret", "key", "password", "auth"].map { Array($0.utf8) }

    /// Whether `word` occurs in `name`: a plain byte search. This runs for every header of every send;
    /// Foundation's `contains` (through NSString) and the standard library's generic `firstRange(of:)`
    /// each cost a worker 1–20% of its CPU at the bench's drain.
    private static func contains(_ name: UnsafeBufferPointer<UInt8>, _ word: [UInt8]) -> Bool {
        guard word.count <= name.count else { return false }
        search: for start in 0...(name.count - word.count) {
            for offset in 0..<word.count where name[start + offset] != word[offset] { continue search }
            return true
        }
        return false
    }

    /// `headers` with every credential value replaced by ``fingerprint(_:)``.
    public static func redacted(_ headers: [String: String]) -> [String: String] {
        headers.reduce(into: [:]) { out, header in
            out[header.key] = isCredential(header.key) ? fingerprint(header.value) : header.value
        }
    }

    /// `[redacted sha256:xxxxxxxx]`: the first 4 bytes of the value's SHA-256, in hex.
    public static func fingerprint(_ value: String) -> String {
        let digest = SHA256.hash(data: Data(value.utf8))
        return "[redacted sha256:\(digest.prefix(4).map { String(format: "%02x", $0) }.joined())]"
    }

    /// The credential values among `headers`, to scrub from errors and response excerpts that echo them:
    /// each whole value and, for `Bearer sk_…`-style values, the token after the scheme.
    public static func values(in headers: [String: String]) -> [String] {
        headers.filter { isCredential($0.key) && !$0.value.isEmpty }.flatMap { _, value -> [String] in
            let token = value.split(separator: " ").last.map(String.init) ?? value
            return token != value && token.count >= 8 ? [value, token] : [value]
        }
    }
}
