internal import Foundation

/// The fields of a URL query or an `application/x-www-form-urlencoded` body.
///
/// Why its own parser: Hummingbird's `queryParameters` decodes neither names nor `+` (a space, as
/// browsers send form fields), and the console's forms are the only forms here.
struct ConsoleForm: Sendable, Equatable {
    /// The fields by name; of a repeated name the first.
    private(set) var fields: [String: String] = [:]

    init(_ encoded: String?) {
        for pair in (encoded ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { continue }
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            if fields[name] == nil, let value { fields[name] = value }
        }
    }

    /// A field, trimmed; nil when absent or blank.
    subscript(_ name: String) -> String? {
        guard let value = fields[name]?.trimmingWhitespace(), !value.isEmpty else { return nil }
        return value
    }

    private static func decode(_ part: Substring) -> String? {
        String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// `items` URL-encoded, in order, for links; empty values left out.
    static func encode(_ items: [(String, String?)]) -> String {
        items.compactMap { name, value in
            guard let value, !value.isEmpty else { return nil }
            return escape(name) + "=" + escape(value)
        }.joined(separator: "&")
    }

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) ?? ""
    }
}

extension CharacterSet {
    /// Unreserved characters only: everything else in a query value is percent-encoded.
    fileprivate static let urlQueryValueAllowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
}

extension String {
    fileprivate func trimmingWhitespace() -> String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
