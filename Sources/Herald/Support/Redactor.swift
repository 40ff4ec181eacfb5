internal import Foundation

/// Bounds and scrubs text before it is stored in the attempt log or logged.
///
/// Endpoint error messages, response bodies and library errors may echo credentials (a URL with a token,
/// an `Authorization` header, a signing secret). Everything Herald keeps goes through ``redact(_:secrets:limit:)``.
public enum Redactor {
    /// Replaces each of `secrets` and anything secret-looking with `***`, then cuts to `limit` characters.
    public static func redact(_ text: String, secrets: [String] = [], limit: Int = 1024) -> String {
        var out = text
        for secret in secrets where !secret.isEmpty {
            out = out.replacingOccurrences(of: secret, with: "***")
        }
        let patterns: [(String, String)] = [
            (#"whsec_[A-Za-z0-9+/=]+"#, "whsec_***"),
            (#"(://[^:/@\s]*:)[^@\s/]*@"#, "$1***@"),
            (#"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"#, "$1 ***"),
            (#"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|authorization)(["']?\s*[:=]\s*["']?)[^\s"'&,;]+"#, "$1$2***"),
        ]
        for (pattern, template) in patterns {
            out = out.replacingOccurrences(of: pattern, with: template, options: .regularExpression)
        }
        if out.count > limit {
            out = String(out.prefix(max(0, limit - 1))) + "…"
        }
        return out
    }
}
