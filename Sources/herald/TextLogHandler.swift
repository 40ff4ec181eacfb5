import Foundation
import Logging

/// Readable log lines on stderr: `2026-11-24T08:30:00.123Z info herald: worker started concurrency=8 …`.
///
/// Why not swift-log's `StreamLogHandler`: it prints local time with a `+0000` offset, while every other
/// time Herald shows a person (tables, `deliveries show`, JSON) is RFC 3339 UTC; one format everywhere
/// lets a person line a log up with a timeline without converting.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = "\(JSONLogHandler.timestamp()) \(event.level) \(label): \(event.message)\(fields.isEmpty ? "" : " " + fields)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
