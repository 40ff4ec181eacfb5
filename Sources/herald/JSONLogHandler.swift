import Foundation
import Logging

/// One JSON object per line on stderr, for containers and log shippers.
///
/// Fields: `ts` (RFC 3339, UTC, milliseconds), `level`, `logger`, `msg`, then every metadata key
/// (delivery_id, attempt, status, duration_ms, error …). Herald never puts secrets or bodies in metadata.
/// Values are typed: a count or an id is a JSON number and a flag a boolean, so `jq '.duration_ms > 500'`
/// works; metadata is mostly interpolated text, so numbers are recognised by their shape (``typed(_:key:)``).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    /// Keys whose values stay strings even when they look like numbers (a producer's event id "42").
    static let textKeys: Set<String> = ["worker_id", "event_id", "idempotency_key", "schema", "error", "key", "breaker", "url", "trace_id", "span_id", "application_id"]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: Any] = [:]
        for (k, v) in metadata { object[k] = Self.typed(v, key: k) }
        if let extra = event.metadata { for (k, v) in extra { object[k] = Self.typed(v, key: k) } }
        object["ts"] = Self.timestamp()
        object["level"] = event.level.rawValue
        object["logger"] = label
        object["msg"] = "\(event.message)"
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(UInt8(ascii: "\n"))
        FileHandle.standardError.write(line)
    }

    /// A metadata value as the JSON value it means: whole and decimal numbers, booleans, arrays and
    /// objects keep their type; everything else is a string.
    static func typed(_ value: Logger.Metadata.Value, key: String) -> Any {
        switch value {
        case .array(let values): return values.map { typed($0, key: key) }
        case .dictionary(let values): return values.mapValues { typed($0, key: key) }
        case .stringConvertible(let convertible):
            switch convertible {
            case let n as Int: return n
            case let n as Int64: return n
            case let d as Double where d.isFinite: return d
            case let b as Bool: return b
            default: return typed(.string(convertible.description), key: key)
            }
        case .string(let text):
            guard !textKeys.contains(key) else { return text }
            if text == "true" { return true }
            if text == "false" { return false }
            if text.wholeMatch(of: /-?(0|[1-9][0-9]{0,17})/) != nil, let n = Int64(text) { return n }
            if text.wholeMatch(of: /-?(0|[1-9][0-9]{0,14})\.[0-9]{1,9}/) != nil, let d = Double(text) { return d }
            return text
        }
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
