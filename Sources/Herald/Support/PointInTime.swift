public import Foundation

/// A moment as operators type it: an RFC 3339 time (`2026-12-03T06:00:00Z`) or a duration meaning "that
/// long ago" (`2h`), as in `herald endpoints enable 3 --replay-since 2h`.
///
/// Why "ago" stays a duration until the database reads it: the cut-off is then taken on the database's
/// clock, like every other age Herald compares (`--since`, `--older-than`), not the operator's laptop's.
public enum PointInTime: Sendable, Hashable {
    /// That long before the database's `now()`.
    case ago(Duration)
    /// That moment.
    case at(Date)

    /// Parses `text`; throws ``HeraldError/Code/invalidInput`` naming `name` and the accepted forms.
    public static func parse(_ text: String, name: String) throws -> PointInTime {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.first?.isNumber == true, trimmed.count >= 10, trimmed.contains("-") {
            for options in [ISO8601DateFormatter.Options.withInternetDateTime, [.withInternetDateTime, .withFractionalSeconds]] {
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = options
                if let date = formatter.date(from: trimmed) { return .at(date) }
            }
            throw HeraldError.invalid(
                "invalid \(name) \(String(text.prefix(40)).debugDescription): use an RFC 3339 time with a zone (2026-12-03T06:00:00Z) or a duration ago (2h)")
        }
        do {
            return .ago(try DurationText.parse(trimmed, name: name))
        } catch {
            throw HeraldError.invalid(
                "invalid \(name) \(String(text.prefix(40)).debugDescription): use a duration ago (2h, 1d) or an RFC 3339 time (2026-12-03T06:00:00Z)")
        }
    }

    /// Seconds ago, for the `.ago` case (bound as `float8`).
    var secondsAgo: Double? {
        if case .ago(let d) = self { return d.seconds }
        return nil
    }

    /// Seconds since 1970, for the `.at` case (bound as `float8`, read with `to_timestamp`).
    var epochSeconds: Double? {
        if case .at(let date) = self { return date.timeIntervalSince1970 }
        return nil
    }
}
