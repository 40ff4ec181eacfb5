internal import Foundation

/// The opaque `iterator` of a list: the key of the last item of a page, base64url-encoded with the list's
/// name so that a cursor of one list is refused by another.
///
/// Why opaque: clients must not build or edit cursors, so the key (an id today) can change later without
/// breaking them.
struct PageCursor: Equatable {
    /// Which list the cursor belongs to, e.g. `deliveries`.
    var list: String
    /// The last key of the previous page.
    var key: String

    var encoded: String {
        Data("\(list):\(key)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes `text` for `list`; 422 on `iterator` for anything that is not one of its cursors.
    static func decode(_ text: String?, list: String) throws -> String? {
        guard let text else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8),
              plain.hasPrefix(list + ":"), plain.count > list.count + 1 else {
            throw APIProblem(.init(code: 422), code: "invalid_input",
                             "iterator is not a cursor of this list: pass the iterator of the previous page unchanged, or none for the first page",
                             field: "iterator")
        }
        return String(plain.dropFirst(list.count + 1))
    }

    /// Decodes a numeric key.
    static func decodeID(_ text: String?, list: String) throws -> Int64? {
        guard let key = try decode(text, list: list) else { return nil }
        guard let id = Int64(key) else { return try decode("!", list: list).flatMap { _ in nil } }
        return id
    }

    /// The `limit` asked for (default 50), or 422 outside 1...250.
    static func limit(_ value: Int?) throws -> Int {
        let limit = value ?? 50
        guard (1...250).contains(limit) else {
            throw APIProblem(.init(code: 422), code: "invalid_input", "limit must be between 1 and 250, got \(limit)", field: "limit")
        }
        return limit
    }
}
