/// Writes flat JSON objects by hand, for the records every round sends to PostgreSQL.
///
/// Why not `JSONEncoder`: encoding the completion and journal records with it was 8% of a worker's CPU
/// in `perf` at 4,500 deliveries/s. These records are flat (strings, numbers, booleans, one string map),
/// so a few lines do it; a unit test decodes the output with `JSONDecoder` and compares.
struct JSONObjectWriter {
    private(set) var text = "{"
    private var first = true

    mutating func field(_ name: String, _ value: String?) {
        key(name)
        if let value { Self.appendString(value, to: &text) } else { text += "null" }
    }

    mutating func field(_ name: String, _ value: (some BinaryInteger)?) {
        key(name)
        if let value { text += String(value) } else { text += "null" }
    }

    mutating func field(_ name: String, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
    }

    mutating func field(_ name: String, _ value: [String: String]) {
        key(name)
        text += "{"
        var firstEntry = true
        for (k, v) in value {
            if !firstEntry { text += "," }
            firstEntry = false
            Self.appendString(k, to: &text)
            text += ":"
            Self.appendString(v, to: &text)
        }
        text += "}"
    }

    mutating func field(_ name: String, _ value: [Int64]) {
        key(name)
        text += "[" + value.map(String.init).joined(separator: ",") + "]"
    }

    /// The finished object.
    var object: String { text + "}" }

    /// A JSON array of finished objects.
    static func array(_ objects: [String]) -> String {
        "[" + objects.joined(separator: ",") + "]"
    }

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        Self.appendString(name, to: &text)
        text += ":"
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, the rest as is. NUL
    /// becomes U+FFFD: PostgreSQL's `jsonb` and `text` refuse it, and a response body with a NUL byte in
    /// its excerpt would otherwise fail the whole batch's completion, again on every retry.
    static func appendString(_ value: String, to out: inout String) {
        out += "\""
        // Most values (ids, header names, timestamps, excerpts of JSON bodies) need no escape: one scan of
        // their UTF-8 and one append. The bytes that need one are ASCII, never part of a multi-byte
        // sequence. (Per scalar, this was 6% of a worker's CPU at the bench's drain.)
        guard value.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else {
            out += value
            out += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\u{0}": out += "\u{FFFD}"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
