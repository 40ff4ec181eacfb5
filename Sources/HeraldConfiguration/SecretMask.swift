internal import Foundation

/// Masks the password of a connection string, in URI form (`postgres://user:pw@host/db`) or libpq's
/// key=value form (`password=pw`), so `--print-config` can show where a worker connects.
enum SecretMask {
    static let mask = "****"

    static func connectionString(_ text: String) -> String {
        guard !text.isEmpty else { return "(empty: PG* variables and ~/.pgpass)" }
        if let scheme = text.range(of: "://") {
            let rest = text[scheme.upperBound...]
            let authorityEnd = rest.firstIndex { "/?".contains($0) } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            var masked = text
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                masked.replaceSubrange(text.index(after: colon)..<at, with: mask)
            }
            return maskPasswordParameter(masked)
        }
        return maskPasswordParameter(text)
    }

    /// `password=…` (key=value form) or `password=…` in a URI's query, up to the next space or `&`.
    private static func maskPasswordParameter(_ text: String) -> String {
        var result = text
        var searchFrom = result.startIndex
        while let found = result.range(of: "password=", options: .caseInsensitive, range: searchFrom..<result.endIndex) {
            var end = found.upperBound
            if end < result.endIndex, result[end] == "'" {
                end = result[result.index(after: end)...].firstIndex(of: "'").map { result.index(after: $0) } ?? result.endIndex
            } else {
                end = result[end...].firstIndex { " &".contains($0) } ?? result.endIndex
            }
            result.replaceSubrange(found.upperBound..<end, with: mask)
            searchFrom = result.index(found.upperBound, offsetBy: mask.count)
        }
        return result
    }
}
