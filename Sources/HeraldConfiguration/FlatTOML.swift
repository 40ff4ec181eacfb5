internal import Foundation
internal import Herald

/// The subset of TOML a herald.toml needs: top-level `key = value` lines with strings, integers,
/// floats and booleans, and `#` comments. Anything else (tables, arrays, inline tables, multi-line
/// strings, dates, dotted keys) is refused with its line number rather than half-read.
///
/// Why hand-written: swift-configuration 1.4.0 reads JSON, YAML and property lists, not TOML. The one
/// offline TOML library, TOMLKit 0.6.0, wraps the C++ toml++: a cold debug build of it alone took 22 s
/// here (2026-12-03, 2 shared cores; Herald's whole cold build took 16.5 min), and it would put C++ into
/// the static release binary. Worker settings are flat, and a full TOML reader would still have to refuse
/// tables and arrays, so this subset costs about 90 lines and no dependency.
enum FlatTOML {
    /// One `key = value` line: the value as text (strings unquoted, other values as written).
    struct Entry: Equatable {
        var key: String
        var value: String
        var line: Int
    }

    /// The entries of `text`, in order. `file` names the file in refusals.
    /// - Throws: ``HeraldError/Code/invalidInput`` naming the file, the line and what is wrong.
    static func parse(_ text: String, file: String) throws -> [Entry] {
        var entries: [Entry] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            func refuse(_ why: String) -> HeraldError { HeraldError.invalid("\(file) line \(number): \(why)") }
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[") {
                throw refuse("tables such as \(line) are not supported: write every setting as a top-level key = value line")
            }
            guard let equals = line.firstIndex(of: "=") else { throw refuse("expected key = value") }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw refuse("\(String(key.prefix(40)).debugDescription) is not a bare key (letters, digits, _ and -; no dotted or quoted keys)")
            }
            let value = try Self.value(line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces), refuse: refuse)
            if entries.contains(where: { $0.key == key }) { throw refuse("\(key) is set twice") }
            entries.append(Entry(key: key, value: value, line: number))
        }
        return entries
    }

    /// The text of one value, with a trailing comment removed.
    private static func value(_ text: String, refuse: (String) -> HeraldError) throws -> String {
        guard let first = text.first else { throw refuse("a value is missing after =") }
        if first == "\"" || first == "'" {
            if text.hasPrefix("\"\"\"") || text.hasPrefix("'''") { throw refuse("multi-line strings are not supported") }
            var result = ""
            var index = text.index(after: text.startIndex)
            while index < text.endIndex {
                let c = text[index]
                if c == first {
                    try expectOnlyComment(text[text.index(after: index)...], refuse: refuse)
                    return result
                }
                if c == "\\" && first == "\"" {
                    index = text.index(after: index)
                    guard index < text.endIndex else { break }
                    switch text[index] {
                    case "\"": result.append("\"")
                    case "\\": result.append("\\")
                    case "n": result.append("\n")
                    case "t": result.append("\t")
                    default: throw refuse("unsupported escape \\\(text[index]) in a string")
                    }
                } else {
                    result.append(c)
                }
                index = text.index(after: index)
            }
            throw refuse("a string is not closed")
        }
        if "[{".contains(first) { throw refuse("arrays and inline tables are not supported") }
        let bare = (text.firstIndex(of: "#").map { text[..<$0] } ?? Substring(text)).trimmingCharacters(in: .whitespaces)
        let plain = bare.replacingOccurrences(of: "_", with: "")
        guard bare == "true" || bare == "false" || Int(plain) != nil || (Double(plain) != nil && !plain.contains(where: \.isLetter)) else {
            throw refuse("\(String(bare.prefix(40)).debugDescription) is not a string, number or boolean (quote text: \"\(bare.prefix(40))\")")
        }
        return plain
    }

    private static func expectOnlyComment(_ rest: Substring, refuse: (String) -> HeraldError) throws {
        let tail = rest.trimmingCharacters(in: .whitespaces)
        guard tail.isEmpty || tail.hasPrefix("#") else { throw refuse("unexpected \(String(tail.prefix(20)).debugDescription) after the value") }
    }
}
