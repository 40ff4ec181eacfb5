internal import Foundation

/// A fleet-wide request rate for one endpoint, as an operator writes it: `50/s`, `300/min`.
///
/// Stored as requests per minute (`endpoints.rate_limit_per_minute`) so that both spellings are exact
/// integers. The journal enforces it per breaker key (a GCRA reserved per batch, migrations/0008): requests
/// spaced `1 / rate` apart, so any one-second window sees at most `ceil(rate per second) + burst` requests
/// arrive, `burst` being room for the jitter between a send's reserved moment and its arrival.
public struct RateLimit: Sendable, Hashable, CustomStringConvertible {
    public var perMinute: Int

    public init(perMinute: Int) throws {
        guard (1...6_000_000).contains(perMinute) else {
            throw HeraldError.invalid("rate limit must be between 1/min and 100000/s, got \(perMinute)/min")
        }
        self.perMinute = perMinute
    }

    /// Parses `N/s`, `N/sec`, `N/m`, `N/min` (N a positive whole number).
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[0].trimmingCharacters(in: .whitespaces)), n > 0 else {
            throw HeraldError.invalid("rate limit must look like 50/s or 300/min, got \(text.debugDescription)")
        }
        switch parts[1].trimmingCharacters(in: .whitespaces) {
        case "s", "sec", "second": try self.init(perMinute: n.multipliedReportingOverflow(by: 60).overflow ? Int.max : n * 60)
        case "m", "min", "minute": try self.init(perMinute: n)
        default: throw HeraldError.invalid("rate limit unit must be /s or /min, got \(text.debugDescription)")
        }
    }

    /// Room for jitter in the documented bound: `max(1, ceil(rate per second / 10))`.
    public var burst: Int { max(1, (perMinute + 599) / 600) }

    /// The most requests any one-second window can see start.
    public var perSecondBound: Int { (perMinute + 59) / 60 + burst }

    public var description: String { perMinute % 60 == 0 ? "\(perMinute / 60)/s" : "\(perMinute)/min" }
}
