public import Foundation

/// Parses the `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
public enum RetryAfter {
    /// The wait the header asks for, measured from `now`; nil when it is absent or malformed.
    public static func parse(_ value: String?, now: Date) -> Duration? {
        guard let raw = value?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        // Both forms are short ASCII. Anything else is malformed, and must not reach DateFormatter: on Linux
        // it traps on some non-ASCII text (an endpoint's Retry-After crashed the worker; found by make fuzz).
        guard raw.utf8.count <= 64, raw.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        if raw.allSatisfy(\.isNumber) {
            guard let seconds = Int(raw.prefix(9)) else { return nil }
            return .seconds(seconds)
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: raw) {
                return .seconds(max(0, date.timeIntervalSince(now)))
            }
        }
        return nil
    }
}
