import ArgumentParser

/// `--header 'Name: value'` as `enqueue`, `publish` and `endpoints add|set` read it.
enum HeaderArguments {
    /// The headers given, by name; a malformed one is a ``ValidationError`` (exit 64).
    static func parse(_ headers: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for header in headers {
            guard let colon = header.firstIndex(of: ":") else {
                throw ValidationError("invalid --header \(header.prefix(60).debugDescription): use 'Name: value'")
            }
            let name = header[..<colon].trimmingCharacters(in: .whitespaces)
            let value = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.allSatisfy(isTokenCharacter) else {
                throw ValidationError(
                    "invalid --header \(header.prefix(60).debugDescription): the name before ':' must be letters, digits or !#$%&'*+.^_`|~- (e.g. 'X-Tenant: acme')")
            }
            result[name] = value
        }
        return result
    }

    /// RFC 9110's `tchar`: what a header name may hold (the database checks the same).
    static func isTokenCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || "!#$%&'*+.^_`|~-".contains(c))
    }

    /// `a.b,c.*` split on commas, blanks dropped; `all` (or `*` for types) means nil: no restriction.
    static func list(_ text: String, name: String) throws -> [String]? {
        if text.lowercased() == "all" { return nil }
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw ValidationError("\(name) needs a comma-separated list, or all") }
        return items
    }
}
