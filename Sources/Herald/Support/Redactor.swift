internal import Foundation

/// Bounds and scrubs text before it is stored in the attempt log or logged.
///
/// Endpoint error messages, response bodies and library errors may echo credentials (a URL with a token,
/// an `Authorization` header, a signing secret). Everything Herald keeps goes through ``redact(_:secrets:limit:)``.
public enum Redactor {
    /// Replaces each of `secrets` and anything secret-looking with `***`, then cuts to `limit` characters.
    public static func redact(_ text: String, secrets: [String] = [], limit: Int = 1024) -> String {
        var out = text
        for secret in secrets where !secret.isEmpty && out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: "***")
        }
        // The patterns are compiled once; they run on every stored error and excerpt.
        for (regex, template) in patterns {
            let range = NSRange(out.startIndex..<out.endIndex, in: out)
            out = regex.stringByReplacingMatches(in: out, options: [], range: range, withTemplate: template)
        }
        if out.count > limit {
            out = String(out.prefix(max(0, limit - 1))) + "…"
        }
        return out
    }

    private static let patterns: [(NSRegularExpression, String)] = [
        (#"whsec_[A-Za-z0-9+/=]+"#, "whsec_***"),
        (#"(://[^:/@\s]*:)[^@\s/]*@"#, "$1***@"),
        (#"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"#, "$1 ***"),
        (#"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|authorization)(["']?\s*[:=]\s*["']?)[^\s"'&,;]+"#, "$1$2***"),
    ].map { pattern, template in
        // The literals above are valid patterns; a failure is a programming error every test run catches.
        (try! NSRegularExpression(pattern: pattern), template)
    }
}
