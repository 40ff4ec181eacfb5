internal import Foundation

/// Durations as operators type them: `250ms`, `5s`, `10m`, `2h`, `30d` (a bare number is seconds).
public enum DurationText {
    /// Parses `text`; throws ``HeraldError/Code/invalidInput`` with the accepted forms.
    public static func parse(_ text: String, name: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count)
            // "ms" is tried before "s", so "5ms" never parses as "5m" + "s".
            if suffix == "s", number.hasSuffix("m") { continue }
            if let value = Double(number), value >= 0, value.isFinite, value * scale <= 1e9 {
                return .milliseconds(Int64((value * scale * 1000).rounded()))
            }
        }
        if let value = Double(trimmed), value >= 0, value.isFinite, value <= 1e9 {
            return .milliseconds(Int64((value * 1000).rounded()))
        }
        throw HeraldError.invalid("invalid \(name) \(String(text.prefix(40)).debugDescription): use a number with ms, s, m, h or d, e.g. 5s")
    }
}
