internal import Foundation

/// Durations as operators type them: `250ms`, `5s`, `10m`, `2h`, `30d`, and compounds such as `1h30m`.
///
/// Why a unit is required: `herald prune --older-than 90` once read "90" as seconds and deleted every
/// delivery finished more than a minute and a half ago. A bare number is ambiguous, so it is refused with
/// the accepted forms, everywhere a duration is read.
public enum DurationText {
    /// The units, longest suffix first where two share a letter (`ms` before `m`).
    private static let units: [(suffix: String, seconds: Double)] = [
        ("ms", 0.001), ("d", 86_400), ("h", 3600), ("m", 60), ("s", 1),
    ]

    /// The largest duration accepted (about 31 years): beyond it `Duration` arithmetic loses meaning.
    private static let maxSeconds = 1e9

    /// Parses `text`; throws ``HeraldError/Code/invalidInput`` naming `name` and the accepted forms.
    public static func parse(_ text: String, name: String) throws -> Duration {
        guard let seconds = seconds(text.trimmingCharacters(in: .whitespaces)) else {
            let hint = Double(text.trimmingCharacters(in: .whitespaces)) != nil
                ? " (a unit is required: \(text.trimmingCharacters(in: .whitespaces))s? \(text.trimmingCharacters(in: .whitespaces))d?)" : ""
            throw HeraldError.invalid(
                "invalid \(name) \(String(text.prefix(40)).debugDescription)\(hint): use numbers with ms, s, m, h or d, e.g. 5s, 90d, 1h30m")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The total of `number unit` parts, or nil when `text` is not one or more of them.
    static func seconds(_ text: String) -> Double? {
        var rest = Substring(text)
        var total = 0.0
        var parts = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number), value.isFinite else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            total += value * unit.seconds
            parts += 1
        }
        guard parts > 0, total <= maxSeconds else { return nil }
        return total
    }
}
