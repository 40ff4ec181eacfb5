import Foundation

/// JSON for `--json` output: sorted keys, snake_case, RFC 3339 UTC dates, and every key always present.
///
/// Why the last part: `JSONEncoder` leaves out a nil optional, so `deliveries list --json` printed
/// `last_error` for some rows and not others, and a script reading `.last_error` of the first row could
/// not tell "no error" from "no such field". After encoding, every stored property the value has (found
/// with `Mirror`, which sees nil optionals too) that is missing is written as `null`.
enum JSONOutput {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let object = try JSONSerialization.jsonObject(with: try encoder.encode(value), options: [.fragmentsAllowed])
        let complete = fillNulls(object, from: value)
        let data = try JSONSerialization.data(
            withJSONObject: complete, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes, .fragmentsAllowed])
        return String(decoding: data, as: UTF8.self)
    }

    /// `object` with `null` for each property of `value` the encoder left out, recursively.
    static func fillNulls(_ object: Any, from value: Any) -> Any {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return object }
            return fillNulls(object, from: wrapped)
        }
        if let array = object as? [Any], mirror.displayStyle == .collection {
            return zip(array, mirror.children.map(\.value)).map { fillNulls($0, from: $1) }
        }
        guard var dictionary = object as? [String: Any], mirror.displayStyle == .struct else { return object }
        for child in mirror.children {
            guard let label = child.label else { continue }
            let key = snakeCase(label)
            if let present = dictionary[key] {
                dictionary[key] = fillNulls(present, from: child.value)
            } else {
                dictionary[key] = NSNull()
            }
        }
        return dictionary
    }

    /// `JSONEncoder.KeyEncodingStrategy.convertToSnakeCase` for property names: `endpointID` →
    /// `endpoint_id`, `lastStatus` → `last_status`.
    static func snakeCase(_ name: String) -> String {
        var out = ""
        let chars = Array(name)
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let previous = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) { out.append("_") }
            }
            out.append(contentsOf: c.lowercased())
        }
        return out
    }
}
